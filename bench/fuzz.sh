#!/usr/bin/env bash
# The fuzz campaign: every coverage-guided fuzz target of fuzz/ (one per
# parser of outside input; the rules each holds are in fuzz_checks/), for
# FUZZ_SECONDS each, one after the other, seeded with the committed corpus
# (fuzz/corpus/<target>/). Then each target's corpus, grown, is minimised
# (`cargo fuzz cmin`) back into fuzz/corpus/<target>/, ready to commit, and
# a table says per target: seconds fuzzed (libFuzzer's clock), executions,
# executions a second, coverage (libFuzzer's `cov`: code edges reached;
# `ft`: features, edges with how often), the corpus (grown, then
# minimised) and the findings (crash, timeout and out-of-memory files in
# fuzz/artifacts/<target>/).
#
# The minimisation keeps a smallest set of inputs that reaches every edge
# (`-set_cover_merge=1 -use_counters=0`): a few hundred files a target
# rather than a thousand, since how often an edge is hit is left to the
# next campaign to find again. `cargo test -p fuzz_checks` replays them.
#
#   bench/fuzz.sh                       # 600 s a target: 80 minutes
#   FUZZ_SECONDS=60 bench/fuzz.sh       # a minute a target
#   FUZZ_TARGETS="relay_body settings" bench/fuzz.sh
#
# Each target runs in libFuzzer's fork mode with one job (the machine's
# other core is for everything else): a finding is written and the
# campaign goes on. Every input is bounded: at most MAX_LEN bytes (per
# target, below), FUZZ_TIMEOUT seconds (10) and FUZZ_RSS_MB of memory
# (2048; a single allocation over FUZZ_MALLOC_MB, 512, is a finding too).
# Reproduce a finding with `cargo +nightly fuzz run <target> <file>`; it
# gets a test in fuzz_checks/tests/regressions.rs and a fix in the parser.
#
# Needs the nightly toolchain and cargo-fuzz (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-600}
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
malloc_mb=${FUZZ_MALLOC_MB:-512}
read -r -a targets <<<"${FUZZ_TARGETS:-b3_multi b3_single traceparent inbound round_trip relay_body retry_after settings}"

# The longest input worth trying, per target: past the longest valid one.
max_len() {
    case $1 in
        round_trip) echo 64 ;;      # 2 bytes of choices and 32 of ids
        retry_after) echo 256 ;;    # a date is 29 bytes
        b3_single | traceparent) echo 512 ;;
        b3_multi) echo 1024 ;;
        inbound | settings) echo 2048 ;;
        relay_body) echo 8192 ;;    # twice the relay's 4 KiB body limit
        *) echo 4096 ;;
    esac
}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build

rows=()
row() { rows+=("$(printf '%-12s %7s %12s %9s %6s %7s %15s %9s' "$@")"); }
row target seconds executions exec/s cov ft "corpus grown>min" findings

for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    grown=fuzz/grown/$target
    artifacts=fuzz/artifacts/$target
    log=fuzz/grown/$target.log
    rm -rf "$grown" "$artifacts"
    mkdir -p "$grown" "$artifacts" "$corpus"
    dict=()
    [[ -f fuzz/dict/$target.dict ]] && dict=(-dict="fuzz/dict/$target.dict")
    printf '\n=== %s: %s s\n' "$target" "$seconds"
    # New inputs go to the first directory; the committed corpus seeds.
    cargo +nightly fuzz run "$target" "$grown" "$corpus" -- \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" \
        -timeout="$timeout" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$malloc_mb" \
        -artifact_prefix="$artifacts/" "${dict[@]}" >"$log" 2>&1 || true
    # Fork mode's last status line: `#N: cov: C ft: F corp: K exec/s: ...
    # oom/timeout/crash: O/T/X time: Ss job: J`.
    status=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
    if [[ -z $status ]]; then
        echo "no status line from $target: see $log" >&2
        tail -20 "$log" >&2
        row "$target" "-" "-" "-" "-" "-" "-" "failed"
        continue
    fi
    elapsed=$(sed -E 's/.* time: ([0-9]+)s.*/\1/' <<<"$status")
    executions=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$status")
    cov=$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$status")
    ft=$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$status")
    grown_size=$(find "$grown" -maxdepth 1 -type f | wc -l)
    findings=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    # The committed corpus and what grew, minimised into the committed one.
    cp -n "$grown"/* "$corpus"/ 2>/dev/null || true
    cargo +nightly fuzz cmin "$target" "$corpus" -- -set_cover_merge=1 -use_counters=0 \
        -max_len="$(max_len "$target")" -timeout="$timeout" -rss_limit_mb="$rss_mb" \
        >"$log.cmin" 2>&1
    minimised=$(find "$corpus" -maxdepth 1 -type f | wc -l)
    row "$target" "$elapsed" "$executions" "$((executions / (elapsed > 0 ? elapsed : 1)))" \
        "$cov" "$ft" "$grown_size>$minimised" "$findings"
    if ((minimised > 500)); then
        echo "note: $corpus holds $minimised files, more than a commit should" >&2
    fi
    if ((findings > 0)); then
        echo "findings of $target in $artifacts:" >&2
        ls "$artifacts" >&2
    fi
done

printf '\n'
printf '%s\n' "${rows[@]}"
