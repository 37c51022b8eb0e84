#!/usr/bin/env bash
# Zipkin's own UI (Lens), as the real Zipkin server serves it, judges our
# spans: e2e/tests/lens.rs clicks api_01's page once, and checks in headless
# Chromium that the trace page shows the 4 services (the page's own span,
# "browser", among them) and the 6 rows of the waterfall, and that the
# dependency page draws the four links.
#
# Run from anywhere: bash ci/lens-check.sh (needs Java 17 and Maven, which
# fetches the server; chromium and chromium-driver).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ZIPKIN_SERVER_JAR=$(bash ci/zipkin-server.sh) \
    cargo test --locked -p e2e --test lens -- --ignored --nocapture
