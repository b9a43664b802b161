#!/usr/bin/env bash
# ftl against the PyTorch loop a user would write, side by side on this machine: end to end
# at 32 and 224 px (full fine-tuning and frozen backbone), the tight-loop ceiling, evaluation
# throughput, `ftl predict` latency, peak memory, and one epoch on other backbones (ResNet-50,
# MobileNetV3-Large, EfficientNet-B0, ConvNeXt-Tiny, Swin-T, ViT-B/16, with where each side's
# time goes and a per-operator profile of each family that misses its target). See
# scripts/bench/training.py for what each figure means.
#
#   scripts/bench/training.sh [OUTDIR] [--repeats N] [--frozen-epochs N]
#                    [--section all|long|short|backbones]              (default runs/bench)
#                    [--backbone-models ARCH,ARCH] [--backbone-fp32-only]
#
# Prints a Markdown table and writes OUTDIR/bench.json. --section long takes about 20 minutes
# on 2 cores.
source "$(dirname "$0")/common.sh"
out="runs/bench"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then out="$1"; shift; fi
bench_build ftl ftl_bench_data
mkdir -p "$(dirname "$out")"
"$python" scripts/bench/training.py --out "$out" --ftl "$build/ftl" \
  --bench-data "$build/tests/ftl_bench_data" --python "$python" "$@" | tee "$out.md"
bench_machine | tee -a "$out.md"
