#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind. Unlike the
# wall-clock figures of bench/run.sh, they do not move with the load of a
# shared machine: two runs agree to about 0.15 % in total.
#
#   bench/run.sh --instructions    # or bench/instructions.sh
#
# Three settings, one after the other:
#   traced    OTEL_TRACES_SAMPLER=always_on
#   untraced  OTEL_TRACES_SAMPLER=always_off
#   disabled  OTEL_SDK_DISABLED=true (no OpenTelemetry layer, provider or exporter)
# and two more on request (SETTINGS="traced clicked", "traced otlp disabled"):
#   clicked   traced, each request a click on api_01's page: GET / with the
#             page's X-B3-TraceId and X-B3-SpanId, then the page's span
#             POSTed to api_01's relay (/browser/spans), which checks it and
#             forwards it to the collector before it answers 202
#   otlp      traced, exported over OTLP/HTTP instead of Zipkin's JSON:
#             OTEL_TRACES_EXPORTER=otlp with OTEL_EXPORTER_OTLP_ENDPOINT the
#             collector, so each upload is a protobuf ExportTraceServiceRequest
#             POSTed to its /v1/traces (the counting collector counts those
#             as it counts Zipkin's spans); the same spans, batches and
#             uploads as traced (OTEL_BSP_* apply to either exporter)
#
# Method, for each setting:
# 1. Release binaries: the release profile, built into target/instructions
#    with symbols kept and v0-mangled (names only: the code is the same;
#    callgrind_annotate needs the names, and v0 names tell generic
#    instances apart, such as each layer of the subscriber). A target
#    directory of its own also keeps the binaries under measurement away
#    from other builds.
# 2. A counting collector (test_collector --count-only, which counts Zipkin's
#    /api/v2/spans and OTLP's /v1/traces alike; not under valgrind, its work
#    is not counted), then the three services, each under
#    `valgrind --tool=callgrind` with its own --callgrind-out-file, all on
#    127.0.0.1, api_03 with WORK_MS=0, RUST_LOG=info unless set (log lines
#    go to files). Waits until each answers /health (bounded, generously:
#    valgrind makes start-up slow).
# 3. WARMUP_REQUESTS sequential `GET /` to api_01, then waits until the
#    collector has every span they made (9 a request when traced: api_01 3,
#    api_02 2, api_03 4), then zeroes every service's counters
#    (callgrind_control -z).
# 4. Exactly REQUESTS sequential `GET /` to api_01, every answer checked to
#    be 200; waits (bounded) until the collector has all their spans; then
#    dumps the counters (callgrind_control -d) and reads each service's
#    total (the dump's `totals:` line).
# Instructions per request = that total / REQUESTS, per service and summed.
# Cost per span = (traced - disabled) / 9 spans a request (target <= 13,500;
# the target is Zipkin's JSON, the default exporter's), and the same for
# otlp when measured, with otlp / traced (OTLP's cost against Zipkin's JSON,
# whole requests); untraced / disabled (target <= 1.03); traced / untraced
# and traced / disabled; then the reference measures (see the end of this
# script).
#
# What makes it repeatable (each point was measured):
# - Uploads are triggered by batch size, never by timer. With the batch
#   processor's timer (OTEL_BSP_SCHEDULE_DELAY=100 ms, batches of 128) the
#   number and size of uploads, and the idle wake-ups, follow how fast
#   valgrind ran: totals moved by 0.3 % between runs. Here the timer is set
#   far beyond the run, each service's batch holds the spans of
#   REQUESTS_PER_BATCH requests (api_01 75, api_02 50, api_03 100 by
#   default), and requests go in groups of REQUESTS_PER_BATCH, each group
#   on one keep-alive connection, the next one sent only once the
#   collector has the spans of the last: every upload carries exactly one
#   group's spans, in every run.
# - TOKIO_WORKER_THREADS=1 and MALLOC_ARENA_MAX=1 (unless set): under
#   valgrind threads run one at a time anyway, but with two runtime workers
#   which worker polls which task, and so which malloc arena serves it,
#   changes from run to run: per-service figures moved by up to 0.6 %.
# - valgrind --fair-sched=yes: a thread woken (the batch thread, when a
#   span is queued) runs in turn, as it would on a core of its own, rather
#   than whenever valgrind's lock happens to pass to it; without it, how
#   many spans the batch thread took per wake-up varied, and api_03's
#   traced figure with it (0.45 % between runs, now 0.15 %).
# What remains (totals within about 0.15 %, a service within about 0.5 %,
# ratios within 0.003): the order in which api_01's two concurrent calls,
# and so api_03's two requests, are served, which changes malloc's state
# (glibc malloc tunables did not help), and the timestamps in log lines.
#
# Settings (environment): REQUESTS (300), WARMUP_REQUESTS (50),
# REQUESTS_PER_BATCH (25; both counts must be multiples of it), SETTINGS
# ("traced untraced disabled"; any of traced, untraced, disabled, clicked,
# otlp, in any order), RUST_LOG (info), BASE_PORT (18000; this mode
# uses BASE_PORT+101..103 and BASE_PORT+511, apart from the wall-clock
# mode's), PROFILE_DIR (when set, each dump is kept there as
# SETTING.api_0N.callgrind, for callgrind_annotate; note that valgrind
# 3.19's callgrind_annotate counts calls still running at the zeroing, such
# as the threads' entry functions, as self cost: ignore those lines in the
# exclusive view).
# A run takes under a minute after the build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REQUESTS=${REQUESTS:-300}
WARMUP_REQUESTS=${WARMUP_REQUESTS:-50}
REQUESTS_PER_BATCH=${REQUESTS_PER_BATCH:-25}
SETTINGS=${SETTINGS:-traced untraced disabled}
BASE_PORT=${BASE_PORT:-18000}
PROFILE_DIR=${PROFILE_DIR:-}
RUST_LOG=${RUST_LOG:-info}
TOKIO_WORKER_THREADS=${TOKIO_WORKER_THREADS:-1}
MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-1}

# Spans one request to api_01 makes in each service, when traced.
SPANS=([1]=3 [2]=2 [3]=4)
SPANS_PER_REQUEST=9
# The export timer must never fire during a run (ms): about 28 hours.
FAR_FUTURE_MS=100000000

if ((REQUESTS <= 0 || WARMUP_REQUESTS <= 0 || REQUESTS % REQUESTS_PER_BATCH || WARMUP_REQUESTS % REQUESTS_PER_BATCH)); then
    echo "REQUESTS and WARMUP_REQUESTS must be positive multiples of REQUESTS_PER_BATCH ($REQUESTS_PER_BATCH)" >&2
    exit 2
fi
for tool in valgrind callgrind_control curl python3 cargo; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done

api_port() { echo $((BASE_PORT + 100 + $1)); }
collector_port=$((BASE_PORT + 511))
collector_url="http://127.0.0.1:$collector_port"
target_dir=target/instructions
bin=$target_dir/release
work_dir=$(mktemp -d /tmp/bench-instructions.XXXXXX)
pids=()

stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        # A service under valgrind stops slowly: a bounded while, then KILL.
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap 'stop_all; rm -rf "$work_dir"' EXIT

started=$SECONDS
echo "building release binaries with symbols into $target_dir"
RUSTFLAGS="${RUSTFLAGS:-} -Csymbol-mangling-version=v0" CARGO_PROFILE_RELEASE_STRIP=none \
    cargo build --release --quiet --target-dir "$target_dir" \
    -p api_01 -p api_02 -p api_03 -p test_collector
RUSTFLAGS="${RUSTFLAGS:-} -Csymbol-mangling-version=v0" CARGO_PROFILE_RELEASE_STRIP=none \
    cargo build --release --quiet --target-dir "$target_dir" \
    -p reference_costs --bin span_cost --bin span_shapes --bin zipkin_encodings

# wait_healthy URL SECONDS
wait_healthy() {
    local deadline=$((SECONDS + $2))
    until curl -sf --max-time 2 "$1/health" >/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "$1 did not answer /health within $2 s" >&2
            return 1
        fi
        sleep 0.2
    done
}

# spans_received: the collector's span counts by service, "N1 N2 N3".
spans_received() {
    curl -sf --max-time 5 "$collector_url/stats" | python3 -c '
import json, sys
counts = json.load(sys.stdin)["by_service_and_kind"]
print(*(sum(n for key, n in counts.items() if key.split()[0] == f"api_0{i}") for i in (1, 2, 3)))'
}

uploads_received() { curl -sf --max-time 5 "$collector_url/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["uploads"])'; }

# wait_spans REQUESTS_SO_FAR: waits (bounded) until the collector has, from
# every service, all the spans of that many requests.
wait_spans() {
    local expected deadline=$((SECONDS + 120)) received
    expected="$(($1 * SPANS[1])) $(($1 * SPANS[2])) $(($1 * SPANS[3]))"
    while received=$(spans_received || echo "(collector not answering)") && [[ $received != "$expected" ]]; do
        if ((SECONDS >= deadline)); then
            echo "spans expected after $1 requests (api_01/02/03): $expected; received: $received" >&2
            exit 1
        fi
        sleep 0.1
    done
}

# requests COUNT: COUNT sequential GET / to api_01 on one keep-alive
# connection; fails unless every answer is 200. In the clicked setting each
# is a page's click: the GET with the page's B3 ids, then its span POSTed
# to the relay (202), on the same connection.
requests() {
    local url="http://127.0.0.1:$(api_port 1)/" args=() i codes expected="$1×200 "
    local relay="http://127.0.0.1:$(api_port 1)/browser/spans" now_us trace span
    now_us=$(($(date +%s%N) / 1000))
    for ((i = 0; i < $1; i++)); do
        if $clicks; then
            clicked=$((clicked + 1))
            printf -v trace '%032x' $((0x7a0000 + clicked))
            printf -v span '%016x' $((0x7b0000 + clicked))
            # --next resets the options: each request carries its own.
            ((${#args[@]} == 0)) || args+=(--next)
            args+=(-s --max-time 600 -w '%{http_code}\n' -o /dev/null)
            args+=(-H "X-B3-TraceId: $trace" -H "X-B3-SpanId: $span" "$url" --next)
            args+=(-s --max-time 600 -w '%{http_code}\n' -o /dev/null)
            args+=(-H 'Content-Type: application/json' --data-binary
                "[{\"traceId\":\"$trace\",\"id\":\"$span\",\"kind\":\"CLIENT\",\"name\":\"plain\",\"timestamp\":$now_us,\"duration\":5000,\"localEndpoint\":{\"serviceName\":\"browser\"},\"remoteEndpoint\":{\"serviceName\":\"api_01\"},\"tags\":{\"http.request.method\":\"GET\",\"url.path\":\"/\",\"http.response.status_code\":\"200\"}}]"
                "$relay")
        else
            args+=(-o /dev/null "$url")
        fi
    done
    $clicks && expected="$1×200 $1×202 "
    codes=$(curl -s --max-time 600 -w '%{http_code}\n' "${args[@]}" | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
    if [[ $codes != "$expected" ]]; then
        echo "answers to $1 requests: $codes" >&2
        exit 1
    fi
}

# drive DONE COUNT: COUNT more requests (DONE made so far), in groups of
# REQUESTS_PER_BATCH; when spans are exported, waits after each group until
# the collector has its spans, so that no span of the next group can join
# an upload.
drive() {
    local done=$1 count=$2 sent
    for ((sent = REQUESTS_PER_BATCH; sent <= count; sent += REQUESTS_PER_BATCH)); do
        requests "$REQUESTS_PER_BATCH"
        if $exporting; then wait_spans $((done + sent)); fi
        # The relay's flood limit (a burst of 30, then 10 a second) would
        # turn clicks away at this pace: a pause refills it for the next
        # group.
        if $clicks; then sleep 3; fi
    done
}

# cg_control COMMAND PID: -z (zero) or -d (dump); fails unless callgrind
# says OK (callgrind_control itself exits 0 even when it found no process).
cg_control() {
    local answer
    answer=$(callgrind_control "$1" "$2" 2>&1 || true)
    if [[ $answer != *OK.* ]]; then
        echo "callgrind_control $1 $2: $answer" >&2
        exit 1
    fi
}

# dump_total PID FILE: dumps a service's counters, prints its instructions.
dump_total() {
    local pid=$1 out=$2 dump=
    cg_control -d "$pid"
    for _ in $(seq 1 100); do
        dump=$(ls "$out".* 2>/dev/null | head -n1 || true)
        [[ -n $dump ]] && grep -q '^totals:' "$dump" && break
        sleep 0.1
    done
    if [[ -z $dump ]] || ! grep -q '^totals:' "$dump"; then
        echo "callgrind wrote no dump for pid $pid" >&2
        exit 1
    fi
    [[ -z $PROFILE_DIR ]] || cp "$dump" "$PROFILE_DIR/$(basename "$out" .out).callgrind"
    awk '/^totals:/ {print $2}' "$dump"
}

declare -A result
# measure LABEL ENV...: one setting, from start to stop.
measure() {
    local label=$1 n uploads_before spans_before
    shift
    exporting=false clicks=false clicked=0
    [[ $label == traced || $label == clicked || $label == otlp ]] && exporting=true
    [[ $label == clicked ]] && clicks=true
    PORT=$collector_port "$bin/test_collector" --count-only >"$work_dir/collector.log" 2>&1 &
    pids+=($!)
    wait_healthy "$collector_url" 30
    local common=(
        "$@" RUST_LOG="$RUST_LOG" WORK_MS=0
        TOKIO_WORKER_THREADS="$TOKIO_WORKER_THREADS" MALLOC_ARENA_MAX="$MALLOC_ARENA_MAX"
        OTEL_EXPORTER_ZIPKIN_ENDPOINT="$collector_url/api/v2/spans"
        OTEL_BSP_SCHEDULE_DELAY=$FAR_FUTURE_MS
        API_02_URL="http://127.0.0.1:$(api_port 2)" API_03_URL="http://127.0.0.1:$(api_port 3)"
    )
    local -A pid
    for n in 1 2 3; do
        env "${common[@]}" PORT="$(api_port "$n")" \
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE=$((REQUESTS_PER_BATCH * SPANS[n])) \
            valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$work_dir/$label.api_0$n.out" \
            "$bin/api_0$n" >"$work_dir/$label.api_0$n.log" 2>&1 &
        pids+=($!)
        pid[$n]=$!
    done
    for n in 1 2 3; do wait_healthy "http://127.0.0.1:$(api_port "$n")" 180; done

    # Warm-up. A setting that should export nothing is checked on the first
    # group: if spans do arrive (OTEL_SDK_DISABLED not honoured yet, say),
    # it is measured as it is, with the same waits as traced.
    requests "$REQUESTS_PER_BATCH"
    if $clicks; then sleep 3; fi
    if ! $exporting; then
        sleep 2
        if [[ $(spans_received) != "0 0 0" ]]; then
            echo "warning: the $label setting exports spans; measured as it is" >&2
            exporting=true
        fi
    fi
    if $exporting; then wait_spans "$REQUESTS_PER_BATCH"; fi
    drive "$REQUESTS_PER_BATCH" $((WARMUP_REQUESTS - REQUESTS_PER_BATCH))
    # The collector counts an upload before the service has read the answer:
    # a moment for that; then nothing runs until the next request.
    sleep 2
    uploads_before=$(uploads_received)
    spans_before=$(($(spans_received | tr ' ' '+')))
    for n in 1 2 3; do cg_control -z "${pid[$n]}"; done

    drive "$WARMUP_REQUESTS" "$REQUESTS"
    sleep 2
    local totals=() total spans
    for n in 1 2 3; do
        total=$(dump_total "${pid[$n]}" "$work_dir/$label.api_0$n.out") || exit 1
        totals+=("$total")
    done
    result[$label]="${totals[*]}"
    spans=$(($(spans_received | tr ' ' '+')))
    if ! $exporting && ((spans > 0)); then
        echo "the $label setting exported $spans spans during the run" >&2
        exit 1
    fi
    echo "  $label ($*): $REQUESTS requests, $((spans - spans_before)) spans in $(($(uploads_received) - uploads_before)) uploads counted"
    stop_all
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(valgrind --version)"
[[ -z $PROFILE_DIR ]] || mkdir -p "$PROFILE_DIR"
for setting in $SETTINGS; do
    case $setting in
    traced) measure traced OTEL_TRACES_SAMPLER=always_on ;;
    clicked) measure clicked OTEL_TRACES_SAMPLER=always_on ;;
    # The general endpoint: the services add /v1/traces to it.
    otlp) measure otlp OTEL_TRACES_SAMPLER=always_on OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT="$collector_url" ;;
    untraced) measure untraced OTEL_TRACES_SAMPLER=always_off ;;
    # always_on too: were OTEL_SDK_DISABLED ignored, this would show it.
    disabled) measure disabled OTEL_SDK_DISABLED=true OTEL_TRACES_SAMPLER=always_on ;;
    *) echo "unknown setting $setting" >&2; exit 2 ;;
    esac
done

echo
echo "Instructions per request (callgrind): $REQUESTS sequential GET / to api_01 after $WARMUP_REQUESTS of warm-up;"
echo "RUST_LOG=$RUST_LOG, WORK_MS=0, TOKIO_WORKER_THREADS=$TOKIO_WORKER_THREADS, MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX,"
echo "one upload per service every $REQUESTS_PER_BATCH requests (batches of $((REQUESTS_PER_BATCH * SPANS[1])) / $((REQUESTS_PER_BATCH * SPANS[2])) / $((REQUESTS_PER_BATCH * SPANS[3])) spans)."
echo
echo "| setting | api_01 | api_02 | api_03 | total per request |"
echo "|---|---|---|---|---|"
for setting in $SETTINGS; do
    read -r a b c <<<"${result[$setting]}"
    awk -v s="$setting" -v a="$a" -v b="$b" -v c="$c" -v r="$REQUESTS" 'BEGIN {
        printf "| %s | %.0f | %.0f | %.0f | %.0f |\n", s, a / r, b / r, c / r, (a + b + c) / r }'
done
total() { local a b c; read -r a b c <<<"${result[$1]}"; echo $((a + b + c)); }

# Three references, each a program of its own under callgrind (bench/reference):
# - span_cost: one span like the SERVER span, through tracing-opentelemetry
#   and the SDK into a processor that drops it, against the same span with
#   the registry alone: the libraries' own cost, before anything of ours.
# - span_shapes: the demo's own 9 spans of a request, made by the services'
#   constructors, through the subscriber Telemetry::init installs (and the
#   services' allocator), against the same spans with OpenTelemetry
#   disabled: the floor of a traced span in this design, before any export,
#   header or anything else of a request.
# - zipkin_encodings: the same 128 demo-shaped spans written as Zipkin JSON
#   (the exporter's) and as proto3 (Zipkin's other encoding), 100 times.
# The first two run for N and 2N: the difference over N is one unit's cost,
# start-up excluded.
instructions_of() { # OUT-FILE COMMAND...: the run's total instructions
    local out=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1
    awk '/^totals:/ {print $2}' "$out"
}
per_unit() { # PROGRAM SETTING N: instructions a unit (of N and 2N units)
    local one two
    one=$(instructions_of "$work_dir/$1.$2.1" "$target_dir/release/$1" "$2" "$3")
    two=$(instructions_of "$work_dir/$1.$2.2" "$target_dir/release/$1" "$2" $(($3 * 2)))
    echo $(((two - one) / $3))
}
plain=$(per_unit span_cost plain 10000)
traced=$(per_unit span_cost traced 10000)
shapes_disabled=$(per_unit span_shapes disabled 1000)
shapes_traced=$(per_unit span_shapes traced 1000)
valgrind --tool=callgrind --callgrind-out-file="$work_dir/encodings" \
    "$target_dir/release/zipkin_encodings" >/dev/null 2>&1
read -r json proto < <(callgrind_annotate --inclusive=yes "$work_dir/encodings" 2>/dev/null | awk '
    /zipkin_encodings::encode_json / { gsub(",", "", $1); json = $1 }
    /zipkin_encodings::encode_proto / { gsub(",", "", $1); proto = $1 }
    END { printf "%.0f %.0f\n", json / 12800, proto / 12800 }')

echo
echo "| measure | figure | target |"
echo "|---|---|---|"
if [[ -n ${result[traced]:-} && -n ${result[disabled]:-} ]]; then
    awk -v t="$(total traced)" -v d="$(total disabled)" -v r="$REQUESTS" -v s="$SPANS_PER_REQUEST" 'BEGIN {
        v = (t - d) / r / s
        printf "| per span: (traced - disabled) / %d spans a request | %.0f instructions | <= 13,500: %s |\n", s, v, (v <= 13500 ? "met" : "NOT met") }'
fi
if [[ -n ${result[otlp]:-} && -n ${result[disabled]:-} ]]; then
    awk -v o="$(total otlp)" -v d="$(total disabled)" -v r="$REQUESTS" -v s="$SPANS_PER_REQUEST" 'BEGIN {
        printf "| per span over OTLP (protobuf): (otlp - disabled) / %d spans a request | %.0f instructions | |\n", s, (o - d) / r / s }'
fi
if [[ -n ${result[otlp]:-} && -n ${result[traced]:-} ]]; then
    awk -v o="$(total otlp)" -v t="$(total traced)" -v r="$REQUESTS" -v s="$SPANS_PER_REQUEST" 'BEGIN {
        printf "| per span, OTLP over Zipkin JSON: (otlp - traced) / %d spans a request | %+.0f instructions | |\n", s, (o - t) / r / s }'
fi
if [[ -n ${result[otlp]:-} && -n ${result[traced]:-} ]]; then
    awk -v o="$(total otlp)" -v t="$(total traced)" 'BEGIN { printf "| otlp / traced | %.3f | |\n", o / t }'
fi
if [[ -n ${result[untraced]:-} && -n ${result[disabled]:-} ]]; then
    awk -v u="$(total untraced)" -v d="$(total disabled)" 'BEGIN {
        v = u / d
        printf "| untraced / disabled | %.3f | <= 1.03: %s |\n", v, (v <= 1.03 ? "met" : "NOT met") }'
fi
if [[ -n ${result[traced]:-} && -n ${result[untraced]:-} ]]; then
    awk -v t="$(total traced)" -v u="$(total untraced)" 'BEGIN { printf "| traced / untraced | %.3f | |\n", t / u }'
fi
if [[ -n ${result[traced]:-} && -n ${result[disabled]:-} ]]; then
    awk -v t="$(total traced)" -v d="$(total disabled)" 'BEGIN { printf "| traced / disabled | %.3f | |\n", t / d }'
fi
echo "| the floor of this design: the demo's 9 spans through its own subscriber, per span (span_shapes) | $(((shapes_traced - shapes_disabled) / SPANS_PER_REQUEST)) instructions | |"
echo "| the libraries alone: one span through tracing-opentelemetry and the SDK, over the registry alone (span_cost) | $((traced - plain)) instructions ($traced against $plain) | |"
echo "| writing a span for Zipkin: JSON (ours) / proto3 (zipkin_encodings) | $json / $proto instructions | |"
echo "took $((SECONDS - started)) s, build included"
