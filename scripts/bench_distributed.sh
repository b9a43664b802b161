#!/usr/bin/env bash
# Data-parallel ftl (2 ranks under torchrun, Gloo on loopback) against one process on the same
# data, global batch and cores: training img/s, the overhead ratio and the all-reduce time per
# step. See scripts/bench_distributed.py.
#
#   scripts/bench_distributed.sh [OUTDIR]   (default runs/bench; shares bench.sh's data)
#
# Prints a Markdown table and writes OUTDIR/bench_distributed.json. About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/bench}"
build="${FTL_BUILD_DIR:-build}"
[ -x "$build/ftl" ] || scripts/build.sh >/dev/null
python="$(scripts/torch_python.sh)"
"$python" scripts/bench_distributed.py --out "$out" --ftl "$build/ftl" --python "$python" \
  | tee "$out/bench_distributed.md"
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%d)" | tee -a "$out/bench_distributed.md"
