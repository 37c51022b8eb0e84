#!/usr/bin/env bash
# Zipkin as it scales, run for real: e2e/tests/zipkin_cluster.rs starts two
# real Zipkin servers over one MariaDB (Zipkin's own MySQL schema, from the
# server's jar) behind nginx, the one endpoint the services know; kills
# each server in turn and then both under a steady load (every request
# answered, nothing lost, every trace whole in Zipkin's API, and kept by
# the store); and runs Zipkin's dependencies job over the database
# (docs/beyond-one-machine.md).
#
#   bash ci/zipkin-cluster.sh           # the tests
#   bash ci/zipkin-cluster.sh --table   # instead: the fault table at the
#                                       # benchmark's scale (bench/run.sh
#                                       # --zipkin-cluster)
#
# Installs MariaDB and nginx from Debian's packages when missing (they are
# started by the tests, never as the system's services), and fetches the
# Zipkin server and the dependencies job from Maven Central.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
[[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server mariadb-client)
[[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v unzip >/dev/null || missing+=(unzip)
if ((${#missing[@]})); then
    apt-get update -qq
    # The packages' own scripts must not start them as system services
    # (the tests start their own, on ports they hold): policy-rc.d says no.
    # The machine's image has one already; one made here goes again after.
    made_policy=false
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=true
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    if $made_policy; then rm -f /usr/sbin/policy-rc.d; fi
fi

ZIPKIN_SERVER_JAR=$(bash ci/zipkin-server.sh)
ZIPKIN_DEPENDENCIES_CLASSPATH=$(bash ci/zipkin-dependencies.sh)
export ZIPKIN_SERVER_JAR ZIPKIN_DEPENDENCIES_CLASSPATH
if [[ ${1:-} == --table ]]; then
    exec cargo run --release --locked --quiet -p e2e --example fault_table -- cluster
fi
cargo test --locked -p e2e --test zipkin_cluster -- --ignored --nocapture --test-threads 1
