#!/usr/bin/env bash
# Data-parallel ftl (N ranks under torchrun, Gloo on loopback) against one process on the same
# data, global batch and cores: training img/s, the overhead ratio, the all-reduce time per
# step, the feature cache's extraction time and the weights' distance. See
# scripts/bench/distributed.py.
#
#   scripts/bench/distributed.sh [OUTDIR] [--ranks N]   (default runs/bench, 2 ranks; shares
#                                                        bench.sh's data)
#
# Prints a Markdown table and writes OUTDIR/bench_distributed.json. About 5 minutes on 2 cores.
source "$(dirname "$0")/common.sh"
out="runs/bench"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then out="$1"; shift; fi
bench_build
"$python" scripts/bench/distributed.py --out "$out" --ftl "$build/ftl" --python "$python" "$@" \
  | tee "$out/bench_distributed.md"
bench_machine | tee -a "$out/bench_distributed.md"
