#!/usr/bin/env bash
# Zipkin's own UI (Lens) judges our spans: e2e/tests/lens.rs serves Lens in
# front of the tests' collector, clicks api_01's page once, and checks in
# headless Chromium that the trace page shows the 4 services (the page's
# own span, "browser", among them) and the 6 rows of the waterfall, and
# that the dependency page draws the four links.
#
# Lens is not in the repository: LENS_DIR names a build (default
# ../shared/zipkin-ui/build, beside the project). Without one this says
# SKIPPED and exits 0; with one, any failure fails.
#
# Run from anywhere: bash ci/lens-check.sh (needs chromium, chromium-driver).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

lens_dir=${LENS_DIR:-../shared/zipkin-ui/build}
if [[ ! -f $lens_dir/index.html ]]; then
    echo "SKIPPED: no Zipkin Lens build at $lens_dir (set LENS_DIR)"
    exit 0
fi
LENS_DIR=$(cd "$lens_dir" && pwd) cargo test --locked -p e2e --test lens -- --ignored --nocapture
