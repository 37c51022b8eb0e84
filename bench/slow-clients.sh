#!/usr/bin/env bash
# What slow clients do to a service, measured as an attacker would: the
# figures of issue 13, before and after (bench/run.sh --slow-clients runs it).
#
#   bench/slow-clients.sh [BIN_DIR]     # default target/release
#
# 1. held: api_03 alone (Zipkin unreachable: it does not matter here), 3,000
#    connections that each send `GET / HTTP/1.1\r\nHost: …\r\n` and never
#    finish; while they are held, 20 `GET /health`, then after HOLD_SECONDS
#    how many the service has closed.
# 2. past the limit: the same, with (open-file limit + 100) connections
#    from two client processes (one process cannot hold them all); then 3
#    `GET /health` (3 s each at most), and the service's log lines about
#    accepting and about the limits.
# 3. p99 under attack: the three services traced, api_01 with
#    MAX_CONNECTIONS=CAP; loadgen at RATE req/s for RATE_SECONDS, in
#    ROUNDS rounds of: no attack; 2 x CAP stalled connections opened once
#    and held; the same, each opened again as soon as the service closes
#    it. The median of the per-round p99 ratios (attack / none).
#
# Settings (environment): HOLD_SECONDS (35), CAP (256), RATE (500),
# RATE_SECONDS (10), ROUNDS (3), BASE_PORT (18000; uses +601..+609).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN_DIR=${1:-target/release}
HOLD_SECONDS=${HOLD_SECONDS:-35}
CAP=${CAP:-256}
RATE=${RATE:-500}
RATE_SECONDS=${RATE_SECONDS:-10}
ROUNDS=${ROUNDS:-3}
BASE_PORT=${BASE_PORT:-18000}
tools=target/release # stall and loadgen: this workspace's, whatever BIN_DIR is

source bench/processes.sh
log_dir=$(mktemp -d /tmp/slow-clients.XXXXXX)
trap 'stop_all; rm -rf "$log_dir"' EXIT


# wait_tried FILE: until a stall process says its first wave is in.
wait_tried() {
    for _ in $(seq 1 600); do
        grep -q "connections tried" "$1" 2>/dev/null && { sed 's/^/  stall: /' "$1"; return 0; }
        sleep 0.1
    done
    echo "stall did not finish connecting within 60 s" >&2
    return 1
}

# health_answers N MAX_SECONDS: how many of N GET /health got 200.
health_answers() {
    local ok=0
    for _ in $(seq 1 "$1"); do
        curl -sf --max-time "$2" -o /dev/null "$api_03/health" && ok=$((ok + 1))
    done
    echo "$ok"
}

open_files=$(ulimit -n)
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); open-file limit $open_files; binaries: $BIN_DIR"

port=$((BASE_PORT + 601))
api_03="http://127.0.0.1:$port"
start_api_03() {
    PORT=$port OTEL_EXPORTER_ZIPKIN_ENDPOINT=http://127.0.0.1:9/api/v2/spans RUST_LOG=info \
        "$BIN_DIR/api_03" >"$log_dir/$1.log" 2>&1 &
    pids+=($!)
    wait_healthy "$api_03"
}

echo
echo "## 1. 3,000 stalled connections held for $HOLD_SECONDS s (api_03 alone)"
start_api_03 held
"$tools/stall" "127.0.0.1:$port" 3000 "$HOLD_SECONDS" --once >"$log_dir/held.json" 2>"$log_dir/held.err" &
stall_pid=$!
wait_tried "$log_dir/held.err"
started=$(date +%s%N)
answered=$(health_answers 20 3)
took_ms=$((($(date +%s%N) - started) / 1000000))
wait "$stall_pid"
echo "while held: /health answered $answered of 20 in $took_ms ms"
echo "stall: $(cat "$log_dir/held.json")"
stop_all
echo "service log: $(grep -c . "$log_dir/held.log") lines; about the limits: $(grep -cE 'headers in time|make room|refused|accepting a connection' "$log_dir/held.log" || true)"
grep -E 'headers in time|make room|refused|accepting a connection|connections at the stop' "$log_dir/held.log" | sed 's/^/  /' | cut -c1-240 || true

echo
each=$(((open_files + 100 + 1) / 2))
echo "## 2. $((2 * each)) stalled connections (the open-file limit + 100) from two processes, $HOLD_SECONDS s"
start_api_03 flood
"$tools/stall" "127.0.0.1:$port" "$each" "$HOLD_SECONDS" --once >"$log_dir/flood.1.json" 2>"$log_dir/flood.1.err" &
first=$!
"$tools/stall" "127.0.0.1:$port" "$each" "$HOLD_SECONDS" --once >"$log_dir/flood.2.json" 2>"$log_dir/flood.2.err" &
second=$!
wait_tried "$log_dir/flood.1.err"
wait_tried "$log_dir/flood.2.err"
answered=$(health_answers 3 3)
wait "$first" "$second"
echo "while held: /health answered $answered of 3 (3 s each at most)"
echo "stall: $(cat "$log_dir/flood.1.json") $(cat "$log_dir/flood.2.json")"
stop_all
echo "service log: $(grep -ciE 'accept error|accepting a connection failed' "$log_dir/flood.log" || true) lines about failed accepts; $(grep -cE 'headers in time|make room|refused' "$log_dir/flood.log" || true) about the limits"
grep -iE 'accept error|accepting a connection failed|headers in time|make room|refused|open-file limit|connections at the stop' "$log_dir/flood.log" | head -8 | sed 's/^/  /' | cut -c1-240 || true

echo
echo "## 3. p99 at $RATE req/s with 2 x $CAP stalled connections, against none ($ROUNDS alternating rounds of $RATE_SECONDS s)"
collector=$((BASE_PORT + 609))
PORT=$collector "$BIN_DIR/test_collector" --count-only >"$log_dir/collector.log" 2>&1 &
pids+=($!)
wait_healthy "http://127.0.0.1:$collector"
for n in 3 2 1; do
    # api_01's header timeout outlasts a round: the stalled connections stay
    # until the service closes them to make room.
    env OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:$collector/api/v2/spans" RUST_LOG=warn WORK_MS=0 \
        MAX_CONNECTIONS="$CAP" HEADER_TIMEOUT_MS=60000 \
        API_02_URL="http://127.0.0.1:$((BASE_PORT + 602))" API_03_URL="http://127.0.0.1:$((BASE_PORT + 603))" \
        PORT=$((BASE_PORT + 600 + n)) "$BIN_DIR/api_0$n" >"$log_dir/api_0$n.log" 2>&1 &
    pids+=($!)
    wait_healthy "http://127.0.0.1:$((BASE_PORT + 600 + n))"
done
api_01="http://127.0.0.1:$((BASE_PORT + 601))/"
"$tools/loadgen" "$api_01" "$RATE" 2 >/dev/null # warm-up
p99_of() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["p99_ms"], r["failed"])' "$1"; }
stall_counts() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["opened"], "/", r["closed_by_service"])' "$1"; }
# under_attack MODE NAME: loadgen's answer (in $log_dir/NAME.json) while stall
# holds 2 x CAP connections (MODE: --once, or "" to open each again as soon
# as it closes); stall's own account in $log_dir/NAME.stall.json.
under_attack() {
    "$tools/stall" "127.0.0.1:$((BASE_PORT + 601))" $((2 * CAP)) $((RATE_SECONDS + 3)) $1 \
        >"$log_dir/$2.stall.json" 2>"$log_dir/$2.stall.err" &
    local attacker=$!
    wait_tried "$log_dir/$2.stall.err" >/dev/null
    "$tools/loadgen" "$api_01" "$RATE" "$RATE_SECONDS" >"$log_dir/$2.json"
    wait "$attacker"
}
echo
echo "held: opened once and held (the service closes the oldest to make room for new clients);"
echo "reopened: each opened again as soon as the service closes it (a connection flood)."
echo
echo "| round | p99 ms, none | p99 ms, held | ratio | p99 ms, reopened | ratio | failed | reopened: opened / closed by the service |"
echo "|---|---|---|---|---|---|---|---|"
held_ratios=() reopened_ratios=()
for round in $(seq 1 "$ROUNDS"); do
    read -r quiet quiet_failed < <(p99_of "$("$tools/loadgen" "$api_01" "$RATE" "$RATE_SECONDS")")
    under_attack --once held
    under_attack "" reopened
    read -r held held_failed < <(p99_of "$(cat "$log_dir/held.json")")
    read -r reopened reopened_failed < <(p99_of "$(cat "$log_dir/reopened.json")")
    held_ratio=$(awk -v a="$held" -v q="$quiet" 'BEGIN {printf "%.3f", a / q}')
    reopened_ratio=$(awk -v a="$reopened" -v q="$quiet" 'BEGIN {printf "%.3f", a / q}')
    held_ratios+=("$held_ratio") reopened_ratios+=("$reopened_ratio")
    echo "| $round | $quiet | $held | $held_ratio | $reopened | $reopened_ratio | $((quiet_failed + held_failed + reopened_failed)) | $(stall_counts "$log_dir/reopened.stall.json") |"
done
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
echo "median p99 ratio at $RATE req/s, $((2 * CAP)) stalled connections held / none: $(printf '%s\n' "${held_ratios[@]}" | median)"
echo "median p99 ratio at $RATE req/s, $((2 * CAP)) stalled connections reopened / none: $(printf '%s\n' "${reopened_ratios[@]}" | median)"
