#!/usr/bin/env bash
# The interop matrix: our services and the Python originals (Flask +
# py_zipkin, interop/python/) in all 8 mixes of api_01..03, in both Python
# call styles, judged by Zipkin's own trace-tree and dependency rules.
#
# Makes the originals' virtualenv from PyPI (pinned requirements; kept in
# target/, rebuilt when requirements.txt changes), then runs the matrix
# test, which prints the 16-row table and fails on any red cell.
#
# Run from anywhere: bash ci/interop.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

requirements=interop/python/requirements.txt
venv=target/interop-venv
stamp="$venv/requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || $(cat "$stamp" 2>/dev/null) != "$wanted" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
    "$venv/bin/pip" check
    echo "$wanted" >"$stamp"
fi

INTEROP_PYTHON="$PWD/$venv/bin/python" \
    cargo test --locked -p e2e --test interop -- --ignored --nocapture --test-threads=1
