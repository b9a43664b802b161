#!/usr/bin/env bash
# Data-parallel ftl (N ranks under torchrun, Gloo on loopback) against one process on the same
# data, global batch and cores: training img/s, the overhead ratio, the all-reduce time per
# step, the feature cache's extraction time and the weights' distance. See
# scripts/bench_distributed.py.
#
#   scripts/bench_distributed.sh [OUTDIR] [--ranks N]   (default runs/bench, 2 ranks; shares
#                                                        bench.sh's data)
#
# Prints a Markdown table and writes OUTDIR/bench_distributed.json. About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out="runs/bench"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then out="$1"; shift; fi
build="${FTL_BUILD_DIR:-build}"
[ -x "$build/ftl" ] || scripts/build.sh >/dev/null
python="$(scripts/torch_python.sh)"
"$python" scripts/bench_distributed.py --out "$out" --ftl "$build/ftl" --python "$python" "$@" \
  | tee "$out/bench_distributed.md"
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%d)" | tee -a "$out/bench_distributed.md"
