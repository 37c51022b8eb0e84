# What the benchmark scripts share (sourced, not run): the processes they
# start, stopped at the end whatever happens, and a bounded wait for each
# to answer /health.

pids=()

# stop_all: every process started (its pid in `pids`), stopped and reaped.
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}

# wait_healthy URL: until URL/health answers, 10 s at most.
wait_healthy() {
    for _ in $(seq 1 100); do
        curl -sf --max-time 1 "$1/health" >/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not become healthy" >&2
    return 1
}
