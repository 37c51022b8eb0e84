#!/usr/bin/env bash
# A real OpenTelemetry Collector, OTLP in and Zipkin out (ci/otel-collector/,
# a minimal distribution laid out as the Collector Builder lays one out):
# builds it from the Go module proxy, every module pinned by
# ci/otel-collector/go.mod and checked against go.sum, once, into
# target/otel-collector/, and prints the binary's path. It is built again
# only when go.mod, go.sum, a .go file there or the Go toolchain changes.
#
#   bash ci/otel-collector.sh         # prints the binary's path
#   "$(bash ci/otel-collector.sh)" --config=FILE.yaml
#
# with, for the real Zipkin server (ci/zipkin-server.sh) on :9411:
#
#   receivers:
#     otlp:
#       protocols:
#         http:
#           endpoint: 127.0.0.1:4318    # POST /v1/traces
#   exporters:
#     zipkin:
#       endpoint: http://127.0.0.1:9411/api/v2/spans
#       format: json
#   service:
#     telemetry:
#       metrics:
#         level: none    # else it serves its own metrics on 127.0.0.1:8888
#     pipelines:
#       traces:
#         receivers: [otlp]
#         exporters: [zipkin]
#
# (add exporter `debug: {verbosity: detailed}` to the pipeline to log each
# span as it arrived). It accepts connections some 20-40 ms after it starts.
#
# It stands in for Zipkin's own OTLP module, which the Maven Central these
# machines reach does not serve (docs/otlp.md). The first build
# takes a minute or so on 2 cores (about 370 MB of modules come from the Go
# module proxy into Go's own cache, ~/go/pkg/mod); later runs print the
# cached path at once, and a rebuild with Go's build cache warm takes seconds.
#
# To move to a newer Collector: keep every collector module at one release
# (core v0.X with v1.Y, contrib v0.X: the zipkin exporter is the one that
# decides, since the proxy serves few of its versions). In ci/otel-collector/
# change the versions in go.mod's first require block and the module
# strings in main.go and components.go, run
# `GOFLAGS=-mod=mod go mod tidy` there, check that no
# go.opentelemetry.io/collector or opentelemetry-collector-contrib module is
# left at another release (`grep -E 'opentelemetry.io/collector|collector-contrib' go.mod`),
# and run this once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

src=ci/otel-collector
out=$PWD/target/otel-collector
bin=$out/otelcol-demo
stamp=$out/sources.sha256

# Everything the binary is built from that lives here, and the toolchain.
wanted=$( (cd "$src" && sha256sum go.mod go.sum ./*.go && go version) | sha256sum | cut -d' ' -f1)

if [[ ! -x $bin || $(cat "$stamp" 2>/dev/null) != "$wanted" ]]; then
    echo "building the OpenTelemetry Collector ($src) into ${out#"$PWD/"}" >&2
    rm -rf "$out"
    mkdir -p "$out"
    # -mod=readonly: go.mod and go.sum are taken as they are, never updated;
    # each module is fetched at the version go.mod names and must match the
    # hash go.sum holds, and a module that go.mod lacks is an error.
    (cd "$src" && GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
        -o "$bin" .) >&2
    echo "$wanted" >"$stamp"
fi
echo "$bin"
