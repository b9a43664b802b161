#!/usr/bin/env bash
# How far --precision bf16 moves a checkpoint's answers from fp32's, on an ImageFolder: top-1
# agreement, the largest difference of any class's probability, accuracy both ways, and the
# time of each ftl evaluate. On the demo's best.pt and its 5,000 target test images:
#
#   scripts/bench/precision.sh runs/demo/pretrained_full/checkpoints/best.pt \
#     runs/demo/data/target_test [WORK_DIR]           (WORK_DIR default runs/bench_precision)
#
# Needs a CPU with AVX512-BF16 or AMX (ftl refuses bf16 elsewhere, exit 2).
source "$(dirname "$0")/common.sh"
checkpoint="$1" data="$2" work="${3:-runs/bench_precision}"
bench_build
threads=2
mkdir -p "$work"
for precision in fp32 bf16; do
  start=$(date +%s.%N)
  "$ftl" -q evaluate --checkpoint "$checkpoint" --data "$data" --threads $threads \
    --precision $precision --output "$work/evaluate_$precision.json" >/dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f\n", e - s }' >"$work/seconds_$precision"
  # Every class's probability (top-k = all of them, the file's own class count at most).
  "$ftl" -q predict --checkpoint "$checkpoint" --threads $threads --precision $precision \
    --top-k 1000 "$data" >"$work/predict_$precision.jsonl"
done
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def records(precision):
    with open(f"{work}/predict_{precision}.jsonl") as f:
        return {r["path"]: r for r in map(json.loads, f) if "top" in r}
fp32, bf16 = records("fp32"), records("bf16")
agree, largest = 0, 0.0
for path, a in fp32.items():
    b = bf16[path]
    agree += a["top"][0]["index"] == b["top"][0]["index"]
    pa = {s["index"]: s["probability"] for s in a["top"]}
    pb = {s["index"]: s["probability"] for s in b["top"]}
    largest = max(largest, max(abs(pa[k] - pb[k]) for k in pa))
def report(precision):
    with open(f"{work}/evaluate_{precision}.json") as f:
        evaluation = json.load(f)
    with open(f"{work}/seconds_{precision}") as f:
        seconds = float(f.read())
    return evaluation, seconds
(e32, s32), (e16, s16) = report("fp32"), report("bf16")
n = len(fp32)
print(f"images: {n}")
print(f"top-1 agreement bf16 vs fp32: {agree / n:.4%} ({n - agree} differ)")
print(f"largest probability difference: {largest:.3g}")
print(f"accuracy: fp32 {e32['accuracy']:.4f}, bf16 {e16['accuracy']:.4f}")
print(f"ftl evaluate seconds (process included): fp32 {s32:.2f}, bf16 {s16:.2f}")
PY
