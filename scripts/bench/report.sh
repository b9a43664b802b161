#!/usr/bin/env bash
# What the gallery of mistakes costs `ftl report`: the time (median and best of alternated
# runs), the peak memory and the page's size, with no pictures (--gallery 0), the default
# (24 top losses and up to 6 examples of each of the 10 worst confusions) and a large gallery
# (200), on the demo's runs evaluated on their 5,000 test images.
#
#   scripts/bench/report.sh [DEMO_OUTDIR] [--repeats N]   (default runs/demo, 5 repeats)
#
# Runs scripts/demo.sh first when DEMO_OUTDIR holds no finished demo. Prints a Markdown table.
source "$(dirname "$0")/common.sh"
demo="runs/demo"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then demo="$1"; shift; fi
repeats=5
if [ "${1:-}" = "--repeats" ]; then repeats="$2"; fi
bench_build
[ -f "$demo/scratch/.done" ] || scripts/demo.sh "$demo" >/dev/null
# The harness is Python for its clock and the children's peak memory (getrusage).
"$python" - "$ftl" "$demo" "$repeats" <<'PY'
import os, re, resource, statistics, subprocess, sys, tempfile, time

ftl, demo, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
galleries = [0, 24, 200]
work = tempfile.mkdtemp()


def timed_report(run, gallery, page):
    """Seconds and peak RSS (MB) of one report; getrusage's maximum is over all children so
    far, so each run's figure comes from a fresh wait4."""
    start = time.perf_counter()
    process = subprocess.Popen([ftl, "-q", "report", os.path.join(demo, run), "--data",
                                os.path.join(demo, "data", "target_test"), "--gallery",
                                str(gallery), "--output", page, "--threads", "2"])
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"ftl report {run} --gallery {gallery} failed")
    return seconds, usage.ru_maxrss / 1024


print("| run | --gallery | thumbnails | page KB | median s | best s | x no gallery (median) "
      "| x no gallery (best) | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|")
for run in ["pretrained_full", "scratch"]:
    figures = {gallery: [] for gallery in galleries}
    # Alternated, so that a slow spell of the machine falls on every setting alike.
    for _ in range(repeats):
        for gallery in galleries:
            figures[gallery].append(
                timed_report(run, gallery, os.path.join(work, f"{run}-{gallery}.html")))
    base = statistics.median(s for s, _ in figures[0])
    base_best = min(s for s, _ in figures[0])
    for gallery in galleries:
        page = os.path.join(work, f"{run}-{gallery}.html")
        html = open(page).read()
        seconds = [s for s, _ in figures[gallery]]
        print(f"| {run} | {gallery} | {html.count('data:image/png')} | "
              f"{os.path.getsize(page) / 1024:.0f} | {statistics.median(seconds):.2f} | "
              f"{min(seconds):.2f} | {statistics.median(seconds) / base:.3f} | "
              f"{min(seconds) / base_best:.3f} | "
              f"{max(r for _, r in figures[gallery]):.0f} |")
print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d', time.gmtime())}; "
      f"{repeats} alternated runs each")
PY
