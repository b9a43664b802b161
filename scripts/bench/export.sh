#!/usr/bin/env bash
# What `ftl export` makes, side by side in one run on the demo's network (ResNet-18) at 224 px:
# the file sizes (checkpoint, TorchScript fp32 and bf16, ONNX) and one image's latency at batch 1
# and the per-image time at batch 8, for the checkpoint and each export as ftl runs it (as
# loaded: ftl predict and evaluate; frozen for inference: ftl serve), and for the ONNX file in
# ONNX Runtime (onnxruntime-node, CPU, all graph optimisations). 2 compute threads everywhere.
#
#   scripts/bench/export.sh [WORK_DIR]                 (default runs/bench_export)
#
# Prints a Markdown table and writes WORK_DIR/bench_export.json.
source "$(dirname "$0")/common.sh"
work="${1:-runs/bench_export}"
threads=2
mkdir -p "$work"
scripts/setup.sh >/dev/null
bench_build ftl ftl_bench_serve_floor

# A ResNet-18 checkpoint at 224 px: one epoch with a frozen backbone on 40 JPEGs.
checkpoint="$(scripts/bench/checkpoint.sh "$work" "$build/ftl" "$python" "$threads" 20)"
"$python" scripts/bench/export.py --work "$work" --ftl "$build/ftl" \
  --floor "$build/tests/ftl_bench_serve_floor" --checkpoint "$checkpoint" \
  --check-data "$work/val" --threads "$threads" | tee "$work/bench_export.md"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //');" \
  "$(date -u +%Y-%m-%d)" | tee -a "$work/bench_export.md"
