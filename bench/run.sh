#!/usr/bin/env bash
# The benchmark: what tracing costs, on the clock, and that no span is lost.
#
#   bench/run.sh                 # the three parts below (about 6 minutes)
#   bench/run.sh --instructions  # instead: instructions per request under
#                                # callgrind, traced / untraced / disabled
#                                # (deterministic; see bench/instructions.sh)
#   bench/run.sh --slow-clients  # instead: what stalled connections do to a
#                                # service, and the p99 of legitimate requests
#                                # with them held (see bench/slow-clients.sh)
#   bench/run.sh --faults        # instead: the fault suite's cases at 50
#                                # requests a second for 20 s, as a table:
#                                # answers, the span account, p99 before and
#                                # during each fault (e2e/src/faults.rs)
#   bench/run.sh --zipkin-cluster # instead: Zipkin as two servers over
#                                # MariaDB behind nginx, each killed in turn,
#                                # then both, at 50 requests a second: the
#                                # same table (ci/zipkin-cluster.sh --table)
#   bench/run.sh --fuzz          # instead: every fuzz target of fuzz/ for
#                                # FUZZ_SECONDS (600) each, and the table
#                                # (bench/fuzz.sh)
#   bench/run.sh --soak          # instead: an hour at 100 requests a second,
#                                # Zipkin away every minute and api_03
#                                # restarted every ten; memory, descriptors,
#                                # threads, queue and p99 each minute, the
#                                # span account at the end (bench/soak.sh)
#   bench/run.sh --smoke         # a few seconds of each, to check the script
#   bench/run.sh --clean-build   # also: time a release build from clean
#
# 1. Saturation: a traced stack (always_on) and an untraced one (always_off)
#    run side by side; wrk loads one, then the other, in ROUNDS rounds
#    (A B A B ...). Each round gives a traced/untraced ratio; the median is
#    reported. A shared machine moves its speed from minute to minute, so
#    only ratios taken close together mean anything.
# 2. Fixed rate: half the saturation rate this run measured, again in
#    alternating rounds, with loadgen (this workspace's fixed-rate tool,
#    whose latency counts from when a request was due: corrected for
#    coordinated omission). Median of the per-round p99 ratios.
# 3. -c1000: wrk with 1000 connections for C1000_DURATION on a fresh traced
#    stack, api_03's work at 100 ms; then each service's own account of its
#    spans (exported, dropped, lost) against what the collector received,
#    and the peak RSS.
#
# api_03's work is 0 in parts 1 and 2 (tracing's share is then largest);
# RUST_LOG=warn everywhere, but for the exporter's account of its spans at
# the stop. Settings (environment): ROUNDS (3), DURATION (10 s a saturation
# round), CONNECTIONS (32), RATE_DURATION (20 s a fixed-rate round),
# C1000_DURATION (30 s), BASE_PORT (18000).
# Needs wrk (Debian; installed when missing, in seconds) and curl.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
RATE_DURATION=${RATE_DURATION:-20}
C1000_DURATION=${C1000_DURATION:-30}
BASE_PORT=${BASE_PORT:-18000}
clean_build=false
for arg in "$@"; do
    case $arg in
    --instructions) exec bash bench/instructions.sh ;;
    --slow-clients)
        cargo build --release --quiet -p api_01 -p api_02 -p api_03 -p test_collector -p loadgen
        exec bash bench/slow-clients.sh
        ;;
    --faults) exec cargo run --release --quiet -p e2e --example fault_table ;;
    --zipkin-cluster) exec bash ci/zipkin-cluster.sh --table ;;
    --fuzz) exec bash bench/fuzz.sh ;;
    --soak) exec bash bench/soak.sh ;;
    --clean-build) clean_build=true ;;
    --smoke) ROUNDS=1 DURATION=2 RATE_DURATION=2 C1000_DURATION=3 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done

bin=target/release
source bench/processes.sh
log_dir=$(mktemp -d /tmp/bench.XXXXXX)
trap 'stop_all; rm -rf "$log_dir"' EXIT

if ! command -v wrk >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
if $clean_build; then
    cargo clean --release --quiet
    started=$SECONDS
    cargo build --release --workspace --quiet
    echo "release build of the whole workspace from clean: $((SECONDS - started)) s"
fi
cargo build --release --quiet -p api_01 -p api_02 -p api_03 -p test_collector -p loadgen


# start_stack NAME OFFSET SAMPLER WORK_MS: a counting collector and the
# three services on BASE_PORT+OFFSET+1..3 (collector +OFFSET+9).
declare -A pid_of url_of collector_of
start_stack() {
    local name=$1 offset=$2 sampler=$3 work_ms=$4 n collector
    collector=$((BASE_PORT + offset + 9))
    PORT=$collector "$bin/test_collector" --count-only >"$log_dir/$name.collector.log" 2>&1 &
    pids+=($!)
    collector_of[$name]="http://127.0.0.1:$collector"
    wait_healthy "${collector_of[$name]}"
    for n in 3 2 1; do
        env OTEL_EXPORTER_ZIPKIN_ENDPOINT="${collector_of[$name]}/api/v2/spans" \
            OTEL_TRACES_SAMPLER="$sampler" WORK_MS="$work_ms" RUST_LOG=warn,span_export=info \
            API_02_URL="http://127.0.0.1:$((BASE_PORT + offset + 2))" \
            API_03_URL="http://127.0.0.1:$((BASE_PORT + offset + 3))" \
            PORT=$((BASE_PORT + offset + n)) "$bin/api_0$n" >"$log_dir/$name.api_0$n.log" 2>&1 &
        pids+=($!)
        pid_of[$name.$n]=$!
        wait_healthy "http://127.0.0.1:$((BASE_PORT + offset + n))"
    done
    url_of[$name]="http://127.0.0.1:$((BASE_PORT + offset + 1))/"
}

# stop_stack NAME: SIGTERM (the services flush), then each service's own
# account of its spans against the collector's count. Sets account_line
# and lost (dropped + lost + any difference with the collector).
stop_stack() {
    local name=$1 n exported dropped lost_uploads received
    for n in 1 2 3; do kill -TERM "${pid_of[$name.$n]}"; done
    for n in 1 2 3; do wait "${pid_of[$name.$n]}" 2>/dev/null || true; done
    lost=0
    account_line=""
    for n in 1 2 3; do
        read -r exported dropped lost_uploads < <(awk '/span export stopped/ {
            for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            print v["spans_exported"], v["spans_dropped_total"], v["spans_lost_total"] }' "$log_dir/$name.api_0$n.log")
        received=$(curl -sf --max-time 5 "${collector_of[$name]}/stats" | python3 -c '
import json, sys
counts = json.load(sys.stdin)["by_service_and_kind"]
print(sum(n for key, n in counts.items() if key.split()[0] == "api_0'"$n"'"))')
        lost=$((lost + dropped + lost_uploads + exported - received))
        account_line+="api_0$n: ${exported:-?} exported, $received received, $dropped dropped, $lost_uploads lost; "
    done
}

peak_rss() { # NAME: "api_01 / api_02 / api_03" in MB
    local n out=()
    for n in 1 2 3; do out+=("$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/${pid_of[$1.$n]}/status")"); done
    echo "${out[0]} / ${out[1]} / ${out[2]}"
}

to_ms() { # wrk's "850.00us", "1.20ms", "2.01s"
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) printf "%.2f", v / 1000; else if (v ~ /ms$/) printf "%.2f", v + 0;
        else if (v ~ /s$/) printf "%.2f", v * 1000; else print v }'
}

# wrk_run URL SECONDS CONNECTIONS: sets rps, p99, requests, errors.
wrk_run() {
    local out non_2xx socket
    out=$(wrk -t2 -c"$3" -d"$2"s --latency --timeout 10s "$1")
    rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    non_2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    socket=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
    errors=$((${non_2xx:-0} + ${socket:-0}))
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

start_stack traced 100 always_on 0
start_stack untraced 200 always_off 0
wrk_run "${url_of[traced]}" 2 "$CONNECTIONS" # warm-up of both
wrk_run "${url_of[untraced]}" 2 "$CONNECTIONS"

echo
echo "## 1. Saturation: wrk, $CONNECTIONS connections, ${DURATION} s a run, alternating"
echo
echo "| round | traced req/s | untraced req/s | ratio | traced p99 ms | untraced p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
ratios=() traced_rps=() untraced_rps=()
for round in $(seq 1 "$ROUNDS"); do
    wrk_run "${url_of[traced]}" "$DURATION" "$CONNECTIONS"
    t_rps=$rps t_p99=$p99 t_errors=$errors
    wrk_run "${url_of[untraced]}" "$DURATION" "$CONNECTIONS"
    ratio=$(awk -v t="$t_rps" -v u="$rps" 'BEGIN {printf "%.3f", t / u}')
    ratios+=("$ratio") traced_rps+=("$t_rps") untraced_rps+=("$rps")
    echo "| $round | $t_rps | $rps | $ratio | $t_p99 | $p99 | $((t_errors + errors)) |"
done
saturation_ratio=$(printf '%s\n' "${ratios[@]}" | median)
saturation=$(printf '%s\n' "${traced_rps[@]}" "${untraced_rps[@]}" | sort -g | head -1)
echo
echo "median traced/untraced throughput: $saturation_ratio (target >= 0.95)"

rate=$((saturation / 2))
echo
echo "## 2. Fixed rate: $rate req/s (half the lowest saturation above), ${RATE_DURATION} s a run, alternating (loadgen, latency from when each request was due)"
echo
echo "| round | traced p99 ms | untraced p99 ms | ratio | traced p50 ms | untraced p50 ms | failed |"
echo "|---|---|---|---|---|---|---|"
p99_ratios=()
for round in $(seq 1 "$ROUNDS"); do
    t=$("$bin/loadgen" "${url_of[traced]}" "$rate" "$RATE_DURATION" 64)
    u=$("$bin/loadgen" "${url_of[untraced]}" "$rate" "$RATE_DURATION" 64)
    read -r t_p50 t_p99 t_failed < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["p50_ms"], r["p99_ms"], r["failed"])' "$t")
    read -r u_p50 u_p99 u_failed < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["p50_ms"], r["p99_ms"], r["failed"])' "$u")
    ratio=$(awk -v t="$t_p99" -v u="$u_p99" 'BEGIN {printf "%.3f", t / u}')
    p99_ratios+=("$ratio")
    echo "| $round | $t_p99 | $u_p99 | $ratio | $t_p50 | $u_p50 | $((t_failed + u_failed)) |"
done
echo
echo "median traced/untraced p99 at $rate req/s: $(printf '%s\n' "${p99_ratios[@]}" | median) (target <= 1.10)"
traced_rss=$(peak_rss traced)
untraced_rss=$(peak_rss untraced)
stop_stack traced
echo
echo "spans of the traced stack over parts 1 and 2: $account_line"
echo "spans lost: $lost; peak RSS MB (api_01 / 02 / 03): traced $traced_rss, untraced $untraced_rss"
stop_stack untraced
stop_all

echo
echo "## 3. wrk -c1000 for ${C1000_DURATION} s, traced, api_03's work at 100 ms"
start_stack c1000 300 always_on 100
wrk_run "${url_of[c1000]}" "$C1000_DURATION" 1000
c1000_rss=$(peak_rss c1000)
stop_stack c1000
echo
echo "| req/s | requests | p99 ms | errors | spans lost | peak RSS MB api_01 / 02 / 03 |"
echo "|---|---|---|---|---|---|"
echo "| $rps | $requests | $p99 | $errors | $lost | $c1000_rss |"
echo
echo "each service's account: $account_line"
