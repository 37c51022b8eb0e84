#!/usr/bin/env python3
"""The soak's summary (bench/soak.sh), from the directory of its logs:
each figure's slope after warm-up against what counts as flat, p99 per ten
minutes, and each service's span account, every life's, against what the
collector counted in all its lives. Exits 1 when a figure is not flat or
an account does not balance.

    python3 bench/soak_summary.py LOGS MINUTES WARMUP
"""
import glob, json, re, sys

logs, minutes, warmup = sys.argv[1], *map(int, sys.argv[2:])
rows = [list(map(int, line.split())) for line in open(f"{logs}/minutes")]

def slope_per_hour(points):
    """Least-squares slope of (minute, value) points, per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx * 60 if sxx else 0.0

# What counts as flat: the slope, per hour after warm-up, of a least-squares
# line through the minutes. Memory: at most 0.5 MiB an hour. Below it, the
# smallest leak worth finding here (8 bytes kept a request is 2.7 MiB an
# hour at 100 a second; one 128-span batch kept an outage, 3.7 MiB); and
# at it, a service at 10 MiB would take a week to reach its smallest
# container limit (api_03's 96 MiB). Over fifty minutes the line's own
# error is about a tenth of that. Descriptors and threads: at most 3 an
# hour, below one kept a callee restart (6 an hour) or an outage (60).
flat = {"RSS": 512, "fds": 3, "threads": 3}
names = {"RSS": 0, "threads": 1, "fds": 2}
print()
print(f"Flat after warm-up (minute {warmup}): slope of a least-squares line, per hour, "
      f"at most {flat['RSS'] / 1024:.1f} MiB of RSS, {flat['fds']} descriptors, {flat['threads']} threads.")
print()
print("| service | figure | after warm-up | at the end | slope per hour | flat |")
print("|---|---|---|---|---|---|")
failed = False
for service in range(3):
    for figure, offset in names.items():
        column = 1 + service * 3 + offset
        if service == 2:
            # api_03 starts again every few minutes: the last minute of
            # each life past warm-up, each life at the same age.
            ends = [r for r, after in zip(rows, rows[1:] + [None])
                    if after is None or after[-1] != r[-1]]
            points = [(r[0], r[column]) for r in ends if r[0] >= warmup]
        else:
            points = [(r[0], r[column]) for r in rows if r[0] >= warmup]
        if not points:
            continue
        slope = slope_per_hour(points)
        ok = abs(slope) <= flat[figure]
        failed |= not ok
        show = (lambda v: f"{v / 1024:.1f} MiB") if figure == "RSS" else str
        slope_text = f"{slope / 1024:+.2f} MiB" if figure == "RSS" else f"{slope:+.1f}"
        print(f"| api_0{service + 1}{' (end of each life)' if service == 2 else ''} | {figure} | "
              f"{show(points[0][1])} | {show(points[-1][1])} | {slope_text} | {'yes' if ok else 'NO'} |")

print()
print("| minutes | p99 ms | p50 ms | answers |")
print("|---|---|---|---|")
for path in sorted(glob.glob(f"{logs}/load.*.jsonl"), key=lambda p: int(p.split(".")[-2])):
    block = int(path.split(".")[-2])
    whole = [json.loads(l) for l in open(path) if '"window":"all"' in l]
    if whole:
        w = whole[0]
        answers = ", ".join(f"{s}: {n}" for s, n in w["statuses"].items())
        last = min(minutes, block * 10 + 10)
        print(f"| {block * 10 + 1}–{last} | {w['p99_ms']:.1f} | {w['p50_ms']:.1f} | {answers} |")

def accounts(path):
    """Every life's account: the fields of each 'span export stopped' line."""
    lives = []
    for line in open(path):
        if "span export stopped" in line:
            lives.append({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)})
    return lives

received = {}
collector_lives = 0
for line in open(f"{logs}/collector.log"):
    if line.startswith("test collector stopped: "):
        collector_lives += 1
        counts = json.loads(line.split(": ", 1)[1])["by_service_and_kind"]
        for key, n in counts.items():
            service = key.split()[0]
            received[service] = received.get(service, 0) + n
print()
print(f"The span account: each service's lives (their stop lines) against the collector's {collector_lives} lives.")
print()
print("| service | lives | ended | exported | retried | dropped | lost | received | balances |")
print("|---|---|---|---|---|---|---|---|---|")
for n in (1, 2, 3):
    lives = accounts(f"{logs}/api_0{n}.log")
    total = lambda key: sum(life.get(key, 0) for life in lives)
    ended, exported = total("spans_ended"), total("spans_exported")
    dropped, lost = total("spans_dropped_total"), total("spans_lost_total")
    got = received.get(f"api_0{n}", 0)
    ok = ended == exported + dropped + lost and got == exported and dropped == 0 and lost == 0
    failed |= not ok
    print(f"| api_0{n} | {len(lives)} | {ended} | {exported} | {total('spans_retried')} | "
          f"{dropped} | {lost} | {got} | {'yes' if ok else 'NO'} |")
sys.exit(1 if failed else 0)
