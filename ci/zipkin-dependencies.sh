#!/usr/bin/env bash
# Zipkin's dependencies job for MySQL and MariaDB: resolves it from Maven
# Central with everything it runs on (once: Maven keeps it in ~/.m2, so
# later runs are offline), checks the job's own jar against the SHA-256
# pinned here, and prints the classpath to run it with
# (ci/zipkin-dependencies/DependenciesJob.java says how).
#
# e2e/tests/zipkin_cluster.rs finds it through ZIPKIN_DEPENDENCIES_CLASSPATH,
# which ci/zipkin-cluster.sh sets from this script. The pom says why this
# is the job's module at 3.2.0 rather than its executable jar.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=ci/maven.sh
source ci/maven.sh

version=3.2.0
sha256=e5126aa22b7006478bd6911870c4016ad409fd8283bb8a8904c18b23f8fa1c2b
jar="$maven_repo/io/zipkin/dependencies/zipkin-dependencies-mysql/$version/zipkin-dependencies-mysql-$version.jar"
classpath=$(mktemp)
trap 'rm -f "$classpath"' EXIT

maven -f ci/zipkin-dependencies/pom.xml "$dependency_plugin:build-classpath" \
    -Dmdep.outputFile="$classpath"
check_pinned "$jar" "$sha256"
cat "$classpath"
echo
