#!/usr/bin/env bash
# The soak: the release stack for an hour under a steady load and everyday
# faults, watched every minute for anything that grows, and the exact span
# account at the end.
#
#   bench/soak.sh                          # 60 minutes
#   SOAK_MINUTES=3 SOAK_MINUTE_SECONDS=20 bench/soak.sh   # a check of the script
#
# - The load: `loadgen` at SOAK_RATE (100) requests a second to api_01,
#   with the compose load profile's mix (plain=80,fail=10,slow=10: one in
#   ten fails in a callee on purpose, one in ten waits 300 ms there), in
#   blocks of ten minutes on one schedule.
# - Zipkin away every minute: the counting collector (`test_collector
#   --count-only`, which keeps counts, not spans, so an hour costs it no
#   memory) is stopped at second SOAK_OUTAGE_AT (20) and started again
#   SOAK_OUTAGE (5) seconds later on its port. A stop lets its uploads in
#   flight finish and prints its counts: the lives add up exactly.
# - A callee restarted every ten minutes: api_03, SIGTERM (it flushes its
#   spans) and started again, at second 40 of minutes 5, 15, 25 ...; the
#   requests that meet it away are answered 502 by their callers.
# - Every minute, a row: the load's p99 and answers by status for that
#   minute, and per service its RSS, open file descriptors and threads (at
#   the minute's end, with Zipkin back and the queue drained) and the most
#   spans its queue held (`GET /metrics`, read every second).
# - At the end: RSS, descriptors and threads at the end of warm-up and at
#   the end, and the slope of a least-squares line through every minute
#   after warm-up, per hour (bench/soak_summary.py, which says what counts
#   as flat, and why). api_03 starts again every ten minutes, so its line
#   goes through the last minute of each life. Then p99 per ten minutes,
#   and each service's account (every life's, from its stop line) against
#   what the collector counted. The summary runs again on a run's logs:
#   `python3 bench/soak_summary.py LOGS MINUTES WARMUP`.
#
# The queue holds an outage: OTEL_BSP_MAX_QUEUE_SIZE is SOAK_QUEUE, by
# default 4 spans a request (the most one service makes) for the outage,
# the longest pause between retries (5 s), the export period (5 s) and 5 s
# more. Settings: SOAK_MINUTES (60), SOAK_RATE, SOAK_OUTAGE, SOAK_OUTAGE_AT,
# SOAK_CALLEE_EVERY (10 minutes), SOAK_WARMUP (10 minutes),
# SOAK_MINUTE_SECONDS (60; shorter only to check the script), BASE_PORT
# (18400). The logs stay in the directory printed at the start.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=${SOAK_MINUTES:-60}
rate=${SOAK_RATE:-100}
outage=${SOAK_OUTAGE:-5}
outage_at=${SOAK_OUTAGE_AT:-20}
callee_every=${SOAK_CALLEE_EVERY:-10}
warmup=${SOAK_WARMUP:-10}
minute=${SOAK_MINUTE_SECONDS:-60}
base_port=${BASE_PORT:-18400}
queue=${SOAK_QUEUE:-$((rate * 4 * (outage + 15)))}
mix=plain=80,fail=10,slow=10
((warmup < minutes)) || warmup=0

cargo build --release --quiet -p api_01 -p api_02 -p api_03 -p test_collector -p loadgen
bin=target/release
source bench/processes.sh
logs=$(mktemp -d /tmp/soak.XXXXXX)
trap stop_all EXIT
collector_url=http://127.0.0.1:$((base_port + 9))
url_of() { echo "http://127.0.0.1:$((base_port + $1))"; }

declare -A pid_of
start_collector() {
    PORT=$((base_port + 9)) "$bin/test_collector" --count-only >>"$logs/collector.log" 2>&1 &
    pid_of[collector]=$!
    pids+=($!)
    wait_healthy "$collector_url"
}
stop() { # NAME: SIGTERM, and wait for the exit
    kill -TERM "${pid_of[$1]}"
    wait "${pid_of[$1]}" 2>/dev/null || true
}
start_service() { # N
    env OTEL_EXPORTER_ZIPKIN_ENDPOINT="$collector_url/api/v2/spans" \
        OTEL_BSP_MAX_QUEUE_SIZE="$queue" RUST_LOG=warn,span_export=info \
        API_02_URL="$(url_of 2)" API_03_URL="$(url_of 3)" PORT=$((base_port + $1)) \
        "$bin/api_0$1" >>"$logs/api_0$1.log" 2>&1 &
    pid_of[$1]=$!
    pids+=($!)
    wait_healthy "$(url_of "$1")"
}

# Per service: RSS (KiB), open descriptors and threads, now.
process_figures() { # N
    local pid=${pid_of[$1]}
    awk '/^VmRSS/ {rss = $2} /^Threads/ {threads = $2} END {printf "%s %s", rss, threads}' "/proc/$pid/status"
    echo " $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)"
}
queue_size() { # N
    curl -sf --max-time 1 "$(url_of "$1")/metrics" |
        awk '$1 == "otel_sdk_processor_span_queue_size" {print $2}' || echo 0
}
sleep_until() { # EPOCH SECONDS (fractional)
    local wait
    wait=$(awk -v t="$1" -v now="$(date +%s.%N)" 'BEGIN {d = t - now; print (d > 0) ? d : 0}')
    sleep "$wait"
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); logs in $logs"
echo "soak: $minutes minutes of $minute s, $rate req/s ($mix), Zipkin away ${outage} s a minute from second $outage_at, api_03 restarted every $callee_every minutes, queue $queue spans"
start_collector
for n in 3 2 1; do start_service "$n"; done

echo
echo "| minute | p99 ms | answers | RSS MiB api_01 / 02 / 03 | fds | threads | queue max |"
echo "|---|---|---|---|---|---|---|"
declare -A queue_max
# minute M's figures, one line per minute for the summary:
# "M rss1 thr1 fd1 rss2 thr2 fd2 rss3 thr3 fd3 life3"
: >"$logs/minutes"
life3=1
row() { # M: the minute's row, once the load's line for it is in
    local m=$1 block=$(($1 / 10)) window=$(($1 % 10)) load="" waited
    for waited in $(seq 1 100); do
        load=$(grep "\"window\":$window," "$logs/load.$block.jsonl" 2>/dev/null || true)
        [[ -n $load ]] && break
        sleep 0.1
    done
    python3 - "$m" "$load" "${figures[*]}" "${queue_max[1]} ${queue_max[2]} ${queue_max[3]}" <<'EOF'
import json, sys
m, load, figures, queues = sys.argv[1:]
f = [int(x) for x in figures.split()]
load = json.loads(load) if load else None
p99 = f"{load['p99_ms']:.1f}" if load else "?"
answers = ", ".join(f"{s}: {n}" for s, n in load["statuses"].items()) if load else "?"
rss = " / ".join(f"{f[i] / 1024:.1f}" for i in (0, 3, 6))
threads = " / ".join(str(f[i]) for i in (1, 4, 7))
fds = " / ".join(str(f[i]) for i in (2, 5, 8))
print(f"| {int(m) + 1} | {p99} | {answers} | {rss} | {fds} | {threads} | {queues.replace(' ', ' / ')} |")
EOF
}

start=$(date +%s.%N)
at() { awk -v s="$start" -v t="$1" 'BEGIN {printf "%.3f", s + t}'; }
for ((m = 0; m < minutes; m++)); do
    if ((m % 10 == 0)); then
        length=$(((minutes - m < 10 ? minutes - m : 10) * minute))
        "$bin/loadgen" "$(url_of 1)/" "$rate" "$length" 64 --mix "$mix" --every "$minute" \
            >"$logs/load.$((m / 10)).jsonl" 2>>"$logs/load.err" &
        pids+=($!)
    fi
    queue_max=([1]=0 [2]=0 [3]=0)
    for ((s = 0; s < minute; s++)); do
        sleep_until "$(at $((m * minute + s)))"
        if ((s == outage_at)); then
            stop collector
        elif ((s == outage_at + outage)); then
            start_collector
        elif ((s == minute * 2 / 3 && m % callee_every == callee_every / 2)); then
            stop 3
            start_service 3
            life3=$((life3 + 1))
        fi
        for n in 1 2 3; do
            size=$(queue_size "$n")
            ((size > queue_max[$n])) && queue_max[$n]=$size
        done
        if ((s == minute - 1)); then
            figures=($(process_figures 1) $(process_figures 2) $(process_figures 3))
        fi
    done
    echo "$m ${figures[*]} $life3" >>"$logs/minutes"
    row "$m"
done
wait_loads() {
    local pid
    for pid in $(jobs -p); do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == loadgen ]] && wait "$pid"
    done
    return 0
}
wait_loads

# The stop: each service flushes and logs its account, then the collector
# prints its last counts.
for n in 1 2 3; do stop "$n"; done
stop collector

python3 bench/soak_summary.py "$logs" "$minutes" "$warmup"
