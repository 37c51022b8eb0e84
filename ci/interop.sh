#!/usr/bin/env bash
# The interop matrices: our services beside three peers, exporting to
# the real Zipkin server (fetched by ci/zipkin-server.sh); each trace judged
# by Zipkin's trace-tree rules over what Zipkin stored, and each row's
# dependency graph by Zipkin itself.
#
# - the Python originals (Flask + py_zipkin, interop/python/, B3 only) in all
#   8 mixes of api_01..03, in both Python call styles (16 rows);
# - OpenTelemetry-Python (Flask and requests auto-instrumented, its default
#   W3C propagators, its own Zipkin exporter, interop/otel-python/) in all 8
#   mixes, ours sending OTEL_PROPAGATORS=b3multi,tracecontext; then the 8
#   again with every service on OTLP/HTTP, OTel-Python through its own
#   exporter (opentelemetry-exporter-otlp-proto-http);
# - ours on OTLP beside the Python originals on v2 JSON, the 8 mixes of the
#   client style: one trace, both exporters, py_zipkin's 64-bit trace ids;
# - zipkin-js (express + zipkin-instrumentation-express, node-fetch wrapped
#   by zipkin-instrumentation-fetch, zipkin-transport-http's JSON v2, B3
#   only, interop/zipkin-js/) in all 8 mixes, ours at their defaults.
#
# OTLP's uploads go to a real OpenTelemetry Collector (its OTLP/HTTP
# receiver, its zipkin exporter) in front of the same Zipkin: built once
# from the Go module proxy by ci/otel-collector.sh, which prints its path
# (OTEL_COLLECTOR_BIN for the tests).
#
# Makes each Python peer's virtualenv from PyPI (every package pinned,
# installed with --no-deps, then `pip check`) and installs the zipkin-js
# peer's packages from the npm registry (`npm ci`, from its
# package-lock.json), each kept in target/ and made again only when its
# requirements.txt or package-lock.json changes; then runs the matrix tests,
# which print the tables and fail on any red cell.
#
# Run from anywhere: bash ci/interop.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# venv REQUIREMENTS DIR: makes the virtualenv DIR from REQUIREMENTS unless it was made from
# this very file already.
venv() {
    local requirements=$1 venv=$2
    local stamp="$venv/requirements.sha256"
    local wanted
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ ! -x $venv/bin/python || $(cat "$stamp" 2>/dev/null) != "$wanted" ]]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
        "$venv/bin/pip" check
        echo "$wanted" >"$stamp"
    fi
}

# node_packages PEER DIR: installs the packages of the Node peer PEER (its
# package.json and package-lock.json, every version pinned) into
# DIR/node_modules with `npm ci`, unless they were installed from this very
# lock already. The scripts stay in PEER; the tests point Node at DIR's
# node_modules (NODE_PATH).
node_packages() {
    local peer=$1 dir=$2
    local stamp="$dir/package-lock.sha256"
    local wanted
    wanted=$(sha256sum "$peer/package-lock.json" | cut -d' ' -f1)
    if [[ ! -d $dir/node_modules || $(cat "$stamp" 2>/dev/null) != "$wanted" ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        cp "$peer/package.json" "$peer/package-lock.json" "$dir/"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$wanted" >"$stamp"
    fi
}

venv interop/python/requirements.txt target/interop-venv
venv interop/otel-python/requirements.txt target/interop-otel-venv
node_packages interop/zipkin-js target/interop-zipkin-js

ZIPKIN_SERVER_JAR=$(bash ci/zipkin-server.sh) \
    OTEL_COLLECTOR_BIN=$(bash ci/otel-collector.sh) \
    INTEROP_PYTHON="$PWD/target/interop-venv/bin/python" \
    INTEROP_OTEL_PYTHON="$PWD/target/interop-otel-venv/bin/python" \
    INTEROP_ZIPKIN_JS="$PWD/target/interop-zipkin-js" \
    cargo test --locked -p e2e --test interop -- --ignored --nocapture --test-threads=1
