#!/usr/bin/env bash
# The interop matrices: our services beside two Python peers, exporting to
# the real Zipkin server (fetched by ci/zipkin-server.sh); each trace judged
# by Zipkin's trace-tree rules over what Zipkin stored, and each row's
# dependency graph by Zipkin itself.
#
# - the Python originals (Flask + py_zipkin, interop/python/, B3 only) in all
#   8 mixes of api_01..03, in both Python call styles (16 rows);
# - OpenTelemetry-Python (Flask and requests auto-instrumented, its default
#   W3C propagators, its own Zipkin exporter, interop/otel-python/) in all 8
#   mixes, ours sending OTEL_PROPAGATORS=b3multi,tracecontext.
#
# Makes each peer's virtualenv from PyPI (every package pinned, installed
# with --no-deps, then `pip check`; kept in target/, rebuilt when its
# requirements.txt changes), then runs the matrix tests, which print the
# tables and fail on any red cell.
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

venv interop/python/requirements.txt target/interop-venv
venv interop/otel-python/requirements.txt target/interop-otel-venv

ZIPKIN_SERVER_JAR=$(bash ci/zipkin-server.sh) \
    INTEROP_PYTHON="$PWD/target/interop-venv/bin/python" \
    INTEROP_OTEL_PYTHON="$PWD/target/interop-otel-venv/bin/python" \
    cargo test --locked -p e2e --test interop -- --ignored --nocapture --test-threads=1
