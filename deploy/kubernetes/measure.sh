#!/usr/bin/env bash
# What each process of the demo uses under the load profile's traffic: the
# figures behind the Kubernetes requests and limits (README.md beside this
# file, "Requests and limits").
#
#   deploy/kubernetes/measure.sh                   # 60 s at 5 req/s, then 60 s at 100 req/s
#   DURATION=10 RATES="5" deploy/kubernetes/measure.sh     # a quick look
#   ZIPKIN_SERVER_JAR=$(bash ci/zipkin-server.sh) deploy/kubernetes/measure.sh
#                                                  # the real Zipkin as the sink, measured too
#   OTLP=1 deploy/kubernetes/measure.sh            # the services over OTLP, through CI's
#                                                  # Collector (ci/otel-collector.sh), measured too
#
# For each rate, a fresh stack on loopback: a span sink (the counting
# stand-in, `test_collector --count-only`, or the real Zipkin server with
# the heap its image gives it), api_03, api_02, api_01 with the settings
# docker-compose.yml gives them (with OTLP=1, docker-compose.otlp.yml's,
# through CI's build of the Collector release compose pins, with only the
# components otel-collector.yaml uses), and the load profile's `traffic` (the same
# binary and mix as compose's `traffic` service) at the rate. Once a second
# it reads each process's CPU time (utime + stime, /proc/PID/stat) and
# memory (VmRSS, VmHWM, /proc/PID/status). Fresh processes per rate, so a
# rate's peak is its own. Prints one table row per process and rate: peak
# RSS (VmHWM) in MiB, mean and peak (busiest second) CPU in millicores.
#
# Settings (environment): DURATION (60 s a rate), RATES ("5 100": the
# profile's TRAFFIC_RATE, then a rate for headroom), BASE_PORT (19100).
# The machine is shared and small: keep runs short.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DURATION=${DURATION:-60}
RATES=${RATES:-5 100}
BASE_PORT=${BASE_PORT:-19100}
bin=target/release
clk_tck=$(getconf CLK_TCK)

cargo build --release --quiet -p api_01 -p api_02 -p api_03 -p test_collector -p loadgen
if [[ -n ${OTLP:-} ]]; then
    collector=$(bash ci/otel-collector.sh)
fi

work=$(mktemp -d /tmp/k8s-measure.XXXXXX)
pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# wait_healthy URL SECONDS: until URL/health answers.
wait_healthy() {
    for _ in $(seq 1 $(($2 * 10))); do
        curl -sf --max-time 1 -H 'b3: 0' "$1/health" >/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not become healthy within $2 s" >&2
    return 1
}

# sample NAME=PID...: one line a second per process, "name uptime ticks
# rss_kb hwm_kb", for DURATION seconds. The time is the machine's uptime,
# read with each sample, so a late wake-up does not skew the rate.
sample() {
    local end=$((SECONDS + DURATION)) pair name pid now ticks rss hwm
    while ((SECONDS < end)); do
        for pair in "$@"; do
            name=${pair%%=*} pid=${pair#*=}
            if [[ ! -e /proc/$pid/stat ]]; then
                echo "$name (pid $pid) exited during the run; the end of its log:" >&2
                tail -5 "$work/$name.log" >&2
                return 1
            fi
            read -r now _ </proc/uptime
            ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
            rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
            hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
            echo "$name $now $ticks $rss $hwm"
        done
        sleep 1
    done
}

# summary RATE FILE: one table row per process.
summary() {
    awk -v rate="$1" -v hz="$clk_tck" '
        {
            n = $1
            if (!(n in first_t)) { first_t[n] = $2; first_k[n] = $3; order[++count] = n }
            else {
                dt = $2 - last_t[n]
                if (dt > 0) { m = ($3 - last_k[n]) / hz / dt * 1000; if (m > peak[n]) peak[n] = m }
            }
            last_t[n] = $2; last_k[n] = $3
            if ($5 > hwm[n]) hwm[n] = $5
        }
        END {
            for (i = 1; i <= count; i++) {
                n = order[i]
                mean = (last_k[n] - first_k[n]) / hz / (last_t[n] - first_t[n]) * 1000
                printf "| %s | %s | %.1f | %.1f | %.0f |\n", rate, n, hwm[n] / 1024, mean, peak[n]
            }
        }' "$2"
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ${DURATION} s a rate${OTLP:+; over OTLP}"
rows=()
for rate in $RATES; do
    sink_port=$((BASE_PORT + 9))
    if [[ -n ${ZIPKIN_SERVER_JAR:-} ]]; then
        # The heap the image's start-zipkin gives in-memory storage.
        QUERY_PORT=$sink_port java -Xms160m -Xmx160m -XX:+ExitOnOutOfMemoryError \
            -jar "$ZIPKIN_SERVER_JAR" >"$work/zipkin.log" 2>&1 &
        pids+=($!)
        sink_name=zipkin
        wait_healthy "http://127.0.0.1:$sink_port" 120
    else
        PORT=$sink_port "$bin/test_collector" --count-only >"$work/stand-in.log" 2>&1 &
        pids+=($!)
        sink_name=stand-in
        wait_healthy "http://127.0.0.1:$sink_port" 10
    fi
    targets=("$sink_name=${pids[-1]}")
    otlp=()
    if [[ -n ${OTLP:-} ]]; then
        # otel-collector.yaml, on loopback ports.
        sed -e "s|0.0.0.0:4318|127.0.0.1:$((BASE_PORT + 8))|" \
            -e "s|http://zipkin:9411/|http://127.0.0.1:$sink_port/|" \
            otel-collector.yaml >"$work/collector.yaml"
        "$collector" --config="$work/collector.yaml" >"$work/collector.log" 2>&1 &
        pids+=($!)
        targets+=("collector=$!")
        otlp=(OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$((BASE_PORT + 8))")
    fi
    for n in 3 2 1; do
        # docker-compose.yml's settings, on loopback ports.
        env "${otlp[@]}" OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:$sink_port/api/v2/spans" \
            API_02_URL="http://127.0.0.1:$((BASE_PORT + 2))" \
            API_03_URL="http://127.0.0.1:$((BASE_PORT + 3))" \
            RUST_LOG=info PORT=$((BASE_PORT + n)) "$bin/api_0$n" >"$work/api_0$n.log" 2>&1 &
        pids+=($!)
        targets=("api_0$n=$!" "${targets[@]}")
        wait_healthy "http://127.0.0.1:$((BASE_PORT + n))" 10
    done
    # compose's traffic service, at this rate.
    TRAFFIC_URL="http://127.0.0.1:$((BASE_PORT + 1))" TRAFFIC_RATE=$rate \
        TRAFFIC_MIX=plain=80,fail=10,slow=10 "$bin/traffic" >"$work/traffic.log" 2>&1 &
    traffic=$!
    pids+=("$traffic")
    sample "${targets[@]}" "traffic=$traffic" >"$work/samples.$rate"
    kill -TERM "$traffic"
    wait "$traffic" || true
    echo "rate $rate: $(tail -1 "$work/traffic.log")"
    stop_all
    mapfile -t -O "${#rows[@]}" rows < <(summary "$rate" "$work/samples.$rate")
done

echo
echo "| req/s | process | peak RSS MiB | mean CPU m | peak CPU m |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
