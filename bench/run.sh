#!/usr/bin/env bash
# Benchmarks the three services on loopback: tracing on against tracing off,
# in the same run, plus a fixed-rate run that counts spans lost.
#
#   bench/run.sh                  # traced vs untraced, then 1000 req/s for 30 s
#   bench/run.sh --find-max-rate  # also: the highest rate that loses no span
#   bench/run.sh --clean-build    # also: time a release build from clean
#   bench/run.sh --smoke          # a few seconds of each, to check the script
#   bench/run.sh --instructions   # instead: instructions per request under
#                                 # callgrind, traced / untraced / disabled
#                                 # (deterministic; see bench/instructions.sh)
#
# Settings (environment): CONNECTIONS (32), DURATION (20 s), WARMUP (3 s),
# RATE (1000 req/s), RATE_DURATION (30 s), BASE_PORT (18000).
# Needs wrk (Debian) and oha (crates.io); installs them when missing.
# Everything runs on 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
RATE=${RATE:-1000}
RATE_DURATION=${RATE_DURATION:-30}
BASE_PORT=${BASE_PORT:-18000}
find_max_rate=false
clean_build=false
for arg in "$@"; do
    case $arg in
    --find-max-rate) find_max_rate=true ;;
    --clean-build) clean_build=true ;;
    --smoke) DURATION=2 WARMUP=1 RATE=200 RATE_DURATION=2 ;;
    --instructions) exec bash bench/instructions.sh ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done

# One request to api_01 makes 9 spans: api_01 3, api_02 2, api_03 4.
SPANS_PER_REQUEST=9
requests_served=0
collector_port=$((BASE_PORT + 411))
api_port() { echo $((BASE_PORT + $1)); }
bin=target/release
log_dir=$(mktemp -d /tmp/bench.XXXXXX)
pids=()

stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop_all; rm -rf "$log_dir"' EXIT

if ! command -v wrk >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if ! command -v oha >/dev/null; then
    echo "installing oha (once; a few minutes)"
    cargo install --locked --quiet oha
fi

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
if $clean_build; then
    cargo clean --release --quiet
    started=$SECONDS
    cargo build --release --workspace --quiet
    echo "release build of the whole workspace from clean: $((SECONDS - started)) s"
fi
cargo build --release --quiet -p api_01 -p api_02 -p api_03 -p test_collector

wait_healthy() {
    local url=$1
    for _ in $(seq 1 100); do
        curl -sf --max-time 1 "$url/health" >/dev/null && return 0
        sleep 0.1
    done
    echo "$url did not become healthy" >&2
    return 1
}

# start_stack SAMPLER: a counting collector and the three services.
start_stack() {
    local sampler=$1
    PORT=$collector_port "$bin/test_collector" --count-only >"$log_dir/collector.log" 2>&1 &
    pids+=($!)
    collector_pid=$!
    wait_healthy "http://127.0.0.1:$collector_port"
    local common=(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:$collector_port/api/v2/spans"
        OTEL_TRACES_SAMPLER="$sampler" WORK_MS=0 RUST_LOG=warn
        API_02_URL="http://127.0.0.1:$(api_port 2)" API_03_URL="http://127.0.0.1:$(api_port 3)"
    )
    local n
    for n in 3 2 1; do
        env "${common[@]}" PORT="$(api_port $n)" "$bin/api_0$n" >"$log_dir/api_0$n.log" 2>&1 &
        pids+=($!)
        service_pid[$n]=$!
        wait_healthy "http://127.0.0.1:$(api_port $n)"
    done
}
declare -A service_pid

# stop_stack: records each service's peak RSS, stops them (SIGTERM: they
# flush their spans), then reads how many spans the collector received.
stop_stack() {
    local n
    services_cpu=0
    for n in 1 2 3; do
        peak_rss[$n]=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/${service_pid[$n]}/status")
        services_cpu=$((services_cpu + $(cpu_ticks "${service_pid[$n]}")))
    done
    for n in 1 2 3; do kill -TERM "${service_pid[$n]}"; done
    for n in 1 2 3; do wait "${service_pid[$n]}" 2>/dev/null || true; done
    # Requests served = the largest span count over its spans per request;
    # a span lost in any service then shows as expected > received.
    read -r spans_received requests_served < <(curl -sf --max-time 5 "http://127.0.0.1:$collector_port/stats" | python3 -c '
import json, sys
stats = json.load(sys.stdin)
per_request = {"api_01 SERVER": 1, "api_01 CLIENT": 2, "api_02 SERVER": 1,
               "api_02 CLIENT": 1, "api_03 SERVER": 2, "api_03 INTERNAL": 2}
counts = stats["by_service_and_kind"]
served = max([counts.get(k, 0) // n for k, n in per_request.items()] + [0])
print(stats["spans"], served)')
    collector_cpu=$(cpu_ticks "$collector_pid")
    stop_all
}
declare -A peak_rss

# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# to_ms VALUE-WITH-UNIT (wrk's "850.00us", "1.20ms", "2.01s").
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) printf "%.2f", v / 1000; else if (v ~ /ms$/) printf "%.2f", v + 0;
        else if (v ~ /s$/) printf "%.2f", v * 1000; else print v }'
}

# wrk_run URL SECONDS: sets rps, p50, p99, requests, errors.
wrk_run() {
    local out
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$2"s --latency --timeout 5s "$1")
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    p50=$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
    p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    local non_2xx socket
    non_2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    socket=$(echo "$out" | awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}')
    errors=$((${non_2xx:-0} + ${socket:-0}))
}

declare -A result
# measure LABEL SAMPLER: warm-up and load at fixed concurrency.
measure() {
    local label=$1 sampler=$2 total=0
    start_stack "$sampler"
    wrk_run "http://127.0.0.1:$(api_port 1)/" "$WARMUP"
    total=$requests
    wrk_run "http://127.0.0.1:$(api_port 1)/" "$DURATION"
    total=$((total + requests))
    stop_stack
    # wrk counts the requests that completed before it stopped; those still
    # in flight (at most one a connection) are served and traced too.
    local expected=$((requests_served * SPANS_PER_REQUEST))
    if [[ $sampler == always_on ]] && ((requests_served < total || requests_served > total + 2 * CONNECTIONS)); then
        echo "warning: the collector saw $requests_served requests, wrk counted $total" >&2
    fi
    local served=$requests_served
    [[ $sampler == always_on ]] || served=$total
    local cpu_per_request collector_seconds
    cpu_per_request=$(awk -v t="$services_cpu" -v hz="$ticks_per_second" -v n="$served" 'BEGIN {printf "%.0f", 1e6 * t / hz / n}')
    collector_seconds=$(awk -v t="$collector_cpu" -v hz="$ticks_per_second" 'BEGIN {printf "%.1f", t / hz}')
    result[$label]="$rps|$p50|$p99|$errors|$expected|$spans_received|$((expected - spans_received))|${peak_rss[1]}|${peak_rss[2]}|${peak_rss[3]}|$cpu_per_request|$collector_seconds"
}

# rate_run RATE SECONDS [SAMPLER]: sets achieved, failed, p99_rate,
# rate_expected, spans_received, rate_lost.
rate_run() {
    local rate=$1 seconds=$2 sampler=${3:-always_on} out
    start_stack "$sampler"
    out=$(oha --no-tui --output-format json -z "${seconds}s" -q "$rate" -c 64 --latency-correction -w \
        "http://127.0.0.1:$(api_port 1)/" 2>/dev/null || true)
    stop_stack
    read -r achieved ok failed p99_rate < <(echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
codes = r.get("statusCodeDistribution", {})
ok = sum(n for code, n in codes.items() if code.startswith("2"))
failed = sum(n for code, n in codes.items() if not code.startswith("2")) + sum(r.get("errorDistribution", {}).values())
print(round(r["summary"]["requestsPerSec"]), ok, failed, round(r["latencyPercentiles"]["p99"] * 1000, 2))')
    rate_expected=$((requests_served * SPANS_PER_REQUEST))
    [[ $sampler == always_on ]] || rate_expected=0
    rate_lost=$((rate_expected - spans_received))
}

echo "load: $CONNECTIONS connections, ${WARMUP}s warm-up + ${DURATION}s, GET / on api_01 (WORK_MS=0)"
measure traced always_on
measure untraced always_off

row() {
    local label=$1 rps p50 p99 errors expected received lost r1 r2 r3 cpu collector
    IFS='|' read -r rps p50 p99 errors expected received lost r1 r2 r3 cpu collector <<<"${result[$label]}"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s |\n' \
        "$label" "$rps" "$p50" "$p99" "$errors" "$expected" "$received" "$lost" "$r1" "$r2" "$r3" "$cpu" "$collector"
}
echo
echo "| run | req/s | p50 ms | p99 ms | errors | spans expected | spans received | spans lost | peak RSS MB api_01 / 02 / 03 | services' CPU µs per request | collector CPU s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
row traced
row untraced
IFS='|' read -r t_rps _ t_p99 _ _ _ _ _ _ _ t_cpu _ <<<"${result[traced]}"
IFS='|' read -r u_rps _ u_p99 _ _ _ _ _ _ _ u_cpu _ <<<"${result[untraced]}"
awk -v tr="$t_rps" -v ur="$u_rps" -v tp="$t_p99" -v up="$u_p99" -v tc="$t_cpu" -v uc="$u_cpu" 'BEGIN {
    printf "\ntraced / untraced: throughput %.1f %%, p99 %.1f %%, services CPU per request %.1f %%\n", 100 * tr / ur, 100 * tp / up, 100 * tc / uc }'

echo
echo "fixed rate: $RATE req/s for ${RATE_DURATION}s (oha, 64 connections, latency corrected)"
echo
echo "| run | req/s achieved | p99 ms | failed | spans expected | spans received | spans lost |"
echo "|---|---|---|---|---|---|---|"
rate_run "$RATE" "$RATE_DURATION" always_on
traced_rate_p99=$p99_rate
echo "| traced | $achieved | $p99_rate | $failed | $rate_expected | $spans_received | $rate_lost |"
rate_run "$RATE" "$RATE_DURATION" always_off
echo "| untraced | $achieved | $p99_rate | $failed | 0 | $spans_received | 0 |"
awk -v t="$traced_rate_p99" -v u="$p99_rate" 'BEGIN { printf "\nat %s req/s, traced / untraced p99: %.1f %%\n", '"$RATE"', 100 * t / u }'

if $find_max_rate; then
    echo
    best=0
    for rate in 2000 4000 6000 7000 8000 9000 10000 12000; do
        rate_run "$rate" 10
        echo "  $rate req/s asked: achieved $achieved, failed $failed, spans lost $rate_lost"
        if ((rate_lost != 0 || failed != 0 || achieved < rate * 95 / 100)); then break; fi
        best=$achieved
    done
    echo "highest rate achieved with no span lost and no error: $best req/s (traced, 10 s at each step)"
fi
