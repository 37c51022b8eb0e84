#!/usr/bin/env bash
# OTLP judged by real receivers: e2e/tests/otlp.rs runs our three services
# exporting OTLP/HTTP (all of them, then only api_02, beside v2 JSON) to
# the OpenTelemetry Collector, whose zipkin exporter hands the spans to the
# real Zipkin server; Zipkin's API must show the same trace trees and
# dependency links as over v2 JSON, B3 join on and off, a 64-bit B3 trace
# id kept as sent (docs/otlp.md). Then e2e/tests/faults_otlp.rs: the fault
# suite's cases over OTLP (the Collector away and back, slow, 503 with
# Retry-After, 400 in its own words), each with the exact span account
# (docs/failures.md, "Over OTLP").
#
# Run from anywhere: bash ci/otlp.sh (needs Java 17 and Maven, which fetch
# the server, and Go, which builds the Collector: ci/otel-collector.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ZIPKIN_SERVER_JAR=$(bash ci/zipkin-server.sh) \
OTEL_COLLECTOR_BIN=$(bash ci/otel-collector.sh) \
    cargo test --locked -p e2e --test otlp --test faults_otlp -- --ignored --nocapture
