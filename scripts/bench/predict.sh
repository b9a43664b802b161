#!/usr/bin/env bash
# What one call of ftl predict costs, whole process: `ftl --version` (the executable's start,
# LibTorch's loading) against `ftl predict` on 1, 16, 64 and 200 of scripts/bench/serve.sh's
# JPEGs (ResNet-18 at 224 px, 2 threads; under 64 images ftl runs the network as loaded, from
# 64 frozen), in fp32 and in bf16 (on a CPU with AVX512-BF16 or AMX), the best of 3 runs each;
# and the floor bench's freeze_ms, what freezing adds to a call.
#
#   scripts/bench/predict.sh [WORK_DIR]                  (default runs/bench_serve)
source "$(dirname "$0")/common.sh"
work="${1:-runs/bench_serve}"
threads=2
bench_build ftl ftl_bench_serve_floor
checkpoint="$(scripts/bench/checkpoint.sh "$work" "$ftl" "$python" "$threads" 200)"
mapfile -t images < <(find "$work/val" -name '*.jpg' | sort)

# The best of 3 wall times of a command, in seconds.
best_of_3() {
  local best="" start end
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    best=$(awk -v s="$start" -v e="$end" -v b="$best" \
      'BEGIN { t = e - s; if (b == "" || t < b) b = t; printf "%.3f", b }')
  done
  echo "$best"
}

precisions=(fp32)
grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && precisions+=(bf16)
echo "ftl --version: $(best_of_3 "$ftl" --version) s"
for precision in "${precisions[@]}"; do
  for count in 1 16 64 200; do
    echo "ftl predict, $count images, $precision: $(best_of_3 "$ftl" -q predict \
      --checkpoint "$checkpoint" --threads $threads --precision "$precision" \
      "${images[@]:0:$count}") s"
  done
done
for precision in "${precisions[@]}"; do
  "$build/tests/ftl_bench_serve_floor" --checkpoint "$checkpoint" --threads $threads \
    --precision "$precision" --runs 10 |
    awk -v p="$precision" '$1 == "freeze_ms" { print "freeze_ms, " p ": " $2 }'
done
