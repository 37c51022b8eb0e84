# shellcheck shell=bash
# Maven Central as the ci scripts fetch from it, sourced by
# ci/zipkin-server.sh and ci/zipkin-dependencies.sh: Maven's own cache,
# named so that paths in it are known, a pinned dependency plugin (so a
# fetch does not depend on Maven's default), and each fetched jar checked
# against a SHA-256 pinned by the script that fetches it.

maven_repo=$HOME/.m2/repository
# shellcheck disable=SC2034 # used by the scripts that source this
dependency_plugin=org.apache.maven.plugins:maven-dependency-plugin:3.11.0

# maven ARGS...: Maven, quiet unless it fails. --strict-checksums: it
# refuses a download whose hash is not the one Central publishes beside it.
maven() {
    local log
    if ! log=$(mvn -B -Dstyle.color=never --strict-checksums -Dmaven.repo.local="$maven_repo" \
        "$@" 2>&1); then
        echo "$log" >&2
        return 1
    fi
}

# check_pinned FILE SHA256: fails, removing FILE, unless it has that hash.
check_pinned() {
    local actual
    actual=$(sha256sum "$1" | cut -d' ' -f1)
    if [[ $actual != "$2" ]]; then
        echo "$1: SHA-256 $actual, not the pinned $2; removed" >&2
        rm -f "$1"
        return 1
    fi
}
