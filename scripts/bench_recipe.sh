#!/usr/bin/env bash
# The small-data recipe (configs/recipe_small_data.json) on the demo's target task
# (Fashion-MNIST classes 5-9, 100 training images per class, the network pretrained on classes
# 0-4, the 5,000 test images), 3 seeds each:
#
#   scripts/bench_recipe.sh [DEMO_DIR]      (default runs/demo)
#
# The plain fine-tune (configs/demo_target_full.json) at 3 and 5 epochs, the recipe at its 3
# epochs and at 5, and the recipe with each stronger augmentation: TrivialAugmentWide,
# RandAugment, random erasing, mixup/CutMix. Each run is evaluated without and with --tta flip.
# Prints mean and min-max test accuracy over the seeds, the selection metric (validation
# accuracy of best.pt), training images/s and the training seconds per run.
# Runs scripts/demo.sh first when DEMO_DIR has no pretrained network.
set -euo pipefail
cd "$(dirname "$0")/.."
demo="${1:-runs/demo}"
ftl="${FTL_BUILD_DIR:-build}/ftl"
seeds=(0 1 2)
[ -f "$demo/pretrain/checkpoints/best.pt" ] || scripts/demo.sh "$demo" >/dev/null
work="$demo/bench_recipe"
mkdir -p "$work"

augment=(--set data.augment=true --set 'data.crop_scale=[0.35,1.0]')

# run NAME CONFIG [--set ...]: one fine-tune per seed, each evaluated plain and with TTA.
run() {
  local name="$1" config="$2"
  shift 2
  for seed in "${seeds[@]}"; do
    local dir="$work/$name/seed$seed"
    if [ ! -f "$dir/.done" ]; then
      rm -rf "$dir"
      "$ftl" -q finetune --config "$config" \
        --set model.path="$demo/pretrain/checkpoints/best.pt" \
        --set data.train="$demo/data/target_train" --set data.val="$demo/data/target_val" \
        --set output.dir="$dir" --set train.seed="$seed" --set train.threads=2 "$@" >/dev/null
      for tta in none flip; do
        "$ftl" -q evaluate --checkpoint "$dir/checkpoints/best.pt" \
          --data "$demo/data/target_test" --threads 2 --tta "$tta" \
          --output "$dir/eval_$tta.json" >/dev/null
      done
      touch "$dir/.done"
    fi
  done
}

plain=configs/demo_target_full.json
recipe=configs/recipe_small_data.json
run plain_3 "$plain" --set train.epochs=3
run plain_5 "$plain" --set train.epochs=5
run recipe "$recipe"
run recipe_5 "$recipe" --set train.epochs=5
run recipe_trivial "$recipe" "${augment[@]}" --set data.auto_augment=trivial_wide
run recipe_rand "$recipe" "${augment[@]}" --set data.auto_augment=rand
run recipe_erasing "$recipe" "${augment[@]}" --set data.random_erasing.p=0.25
run recipe_mixup "$recipe" --set train.mixup.mixup_alpha=0.8 --set train.mixup.cutmix_alpha=1.0

"$(scripts/torch_python.sh)" - "$work" <<'PY'
import json, os, statistics, sys
work = sys.argv[1]
names = [("plain_3", "plain, 3 epochs"), ("plain_5", "plain, 5 epochs"),
         ("recipe", "recipe (3 epochs)"), ("recipe_5", "recipe at 5 epochs"),
         ("recipe_trivial", "recipe + augment + TrivialAugmentWide"),
         ("recipe_rand", "recipe + augment + RandAugment"),
         ("recipe_erasing", "recipe + augment + random erasing 0.25"),
         ("recipe_mixup", "recipe + mixup 0.8 / CutMix 1.0")]
def spread(values):
    return f"{statistics.mean(values):.4f} ({min(values):.4f}-{max(values):.4f})"
print("demo target task, 3 seeds; test accuracy of best.pt, mean (min-max)")
print("| run | test accuracy | with --tta flip | val acc (selection) | train img/s | train s/run |")
print("|---|---|---|---|---|---|")
for name, label in names:
    acc = {"none": [], "flip": []}
    val, speed, seconds = [], [], []
    for run in sorted(os.listdir(os.path.join(work, name))):
        folder = os.path.join(work, name, run)
        for tta in acc:
            with open(os.path.join(folder, f"eval_{tta}.json")) as f:
                acc[tta].append(json.load(f)["accuracy"])
        with open(os.path.join(folder, "summary.json")) as f:
            val.append(json.load(f)["best_value"])
        with open(os.path.join(folder, "metrics.jsonl")) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        speed += [line["images_per_s"] for line in lines]
        with open(os.path.join(folder, "timing.json")) as f:
            timing = json.load(f)
        seconds.append(sum(epoch["train_seconds"] for epoch in timing["epochs"]))
    print(f"| {label} | {spread(acc['none'])} | {spread(acc['flip'])} | {spread(val)} | "
          f"{statistics.mean(speed):.0f} | {statistics.mean(seconds):.1f} |")
PY
