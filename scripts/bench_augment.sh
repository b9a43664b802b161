#!/usr/bin/env bash
# Augmentation on the demo's target task (Fashion-MNIST classes 5-9, 100 training images per
# class, the network pretrained on classes 0-4, the 5,000 test images), 3 seeds each:
#
#   scripts/bench_augment.sh [DEMO_DIR] [EPOCHS]      (defaults runs/demo, 10)
#
# configs/demo_target_full.json at 3 epochs and at EPOCHS, then at EPOCHS with data.augment,
# with data.augment and random erasing, with mixup/CutMix (timm's 0.8 / 1.0), and with all of
# them. Each run is evaluated without and with --tta flip. Prints the mean and min-max test
# accuracy over the seeds, and training images/s (the mean over epochs and seeds).
# Runs scripts/demo.sh first when DEMO_DIR has no pretrained network.
set -euo pipefail
cd "$(dirname "$0")/.."
demo="${1:-runs/demo}"
epochs="${2:-10}"
ftl="${FTL_BUILD_DIR:-build}/ftl"
seeds=(0 1 2)
[ -f "$demo/pretrain/checkpoints/best.pt" ] || scripts/demo.sh "$demo" >/dev/null
# One folder per EPOCHS, so that another EPOCHS never reuses these runs.
work="$demo/bench_augment_${epochs}ep"
mkdir -p "$work"

augment=(--set data.augment=true --set 'data.crop_scale=[0.35,1.0]')
erasing=(--set data.random_erasing.p=0.25)
mixing=(--set train.mixup.mixup_alpha=0.8 --set train.mixup.cutmix_alpha=1.0)

# run NAME EPOCHS [--set ...]: one fine-tune per seed, each evaluated plain and with TTA.
run() {
  local name="$1" run_epochs="$2"
  shift 2
  for seed in "${seeds[@]}"; do
    local dir="$work/$name/seed$seed"
    if [ ! -f "$dir/.done" ]; then
      rm -rf "$dir"
      "$ftl" -q finetune --config configs/demo_target_full.json \
        --set model.path="$demo/pretrain/checkpoints/best.pt" \
        --set data.train="$demo/data/target_train" --set data.val="$demo/data/target_val" \
        --set output.dir="$dir" --set train.epochs="$run_epochs" --set train.seed="$seed" \
        --set train.threads=2 "$@" >/dev/null
      for tta in none flip; do
        "$ftl" -q evaluate --checkpoint "$dir/checkpoints/best.pt" \
          --data "$demo/data/target_test" --threads 2 --tta "$tta" \
          --output "$dir/eval_$tta.json" >/dev/null
      done
      touch "$dir/.done"
    fi
  done
}

run plain_3 3
run plain "$epochs"
run augment "$epochs" "${augment[@]}"
run augment_erasing "$epochs" "${augment[@]}" "${erasing[@]}"
run mixup_cutmix "$epochs" "${mixing[@]}"
run all "$epochs" "${augment[@]}" "${erasing[@]}" "${mixing[@]}"

"$(scripts/torch_python.sh)" - "$work" "$epochs" <<'PY'
import json, os, statistics, sys
work, epochs = sys.argv[1], sys.argv[2]
names = [("plain_3", "plain, 3 epochs"), ("plain", f"plain, {epochs} epochs"),
         ("augment", "+ data.augment (crop_scale 0.35-1)"), ("augment_erasing", "+ augment, random erasing"),
         ("mixup_cutmix", "+ mixup/CutMix"), ("all", "+ augment, erasing, mixup/CutMix")]
def spread(values):
    return f"{statistics.mean(values):.4f} ({min(values):.4f}-{max(values):.4f})"
print(f"demo target task, 3 seeds, {epochs} epochs unless named; test accuracy mean (min-max)")
print(f"| run | accuracy | with --tta flip | train img/s |")
print(f"|---|---|---|---|")
for name, label in names:
    runs = sorted(os.listdir(os.path.join(work, name)))
    acc = {tta: [] for tta in ("none", "flip")}
    speed = []
    for run in runs:
        folder = os.path.join(work, name, run)
        for tta in acc:
            with open(os.path.join(folder, f"eval_{tta}.json")) as f:
                acc[tta].append(json.load(f)["accuracy"])
        with open(os.path.join(folder, "metrics.jsonl")) as f:
            speed += [json.loads(line)["images_per_s"] for line in f if line.strip()]
    print(f"| {label} | {spread(acc['none'])} | {spread(acc['flip'])} | "
          f"{statistics.mean(speed):.0f} |")
PY
