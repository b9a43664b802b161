#!/usr/bin/env bash
# The small-data recipe (configs/recipe_small_data.json) on the demo's target task
# (Fashion-MNIST classes 5-9, 100 training images per class, the network pretrained on classes
# 0-4, the 5,000 test images), 3 seeds each:
#
#   scripts/bench/recipe.sh [DEMO_DIR]      (default runs/demo)
#
# The plain fine-tune (configs/demo_target_full.json) at 3 and 5 epochs, the recipe at its 3
# epochs and at 5, and the recipe with each stronger augmentation: TrivialAugmentWide,
# RandAugment, random erasing, mixup/CutMix. Each run is evaluated without and with --tta flip.
# Prints mean and min-max test accuracy over the seeds, the selection metric (validation
# accuracy of best.pt), training images/s and the training seconds per run.
# Runs scripts/demo.sh first when DEMO_DIR has no pretrained network.
source "$(dirname "$0")/common.sh"
demo="${1:-runs/demo}"
bench_build
work="$demo/bench_recipe"

augment=(--set data.augment=true --set 'data.crop_scale=[0.35,1.0]')

plain=configs/demo_target_full.json
recipe=configs/recipe_small_data.json
demo_seed_runs "$demo" "$work" plain_3 "$plain" --set train.epochs=3
demo_seed_runs "$demo" "$work" plain_5 "$plain" --set train.epochs=5
demo_seed_runs "$demo" "$work" recipe "$recipe"
demo_seed_runs "$demo" "$work" recipe_5 "$recipe" --set train.epochs=5
demo_seed_runs "$demo" "$work" recipe_trivial "$recipe" "${augment[@]}" \
  --set data.auto_augment=trivial_wide
demo_seed_runs "$demo" "$work" recipe_rand "$recipe" "${augment[@]}" --set data.auto_augment=rand
demo_seed_runs "$demo" "$work" recipe_erasing "$recipe" "${augment[@]}" \
  --set data.random_erasing.p=0.25
demo_seed_runs "$demo" "$work" recipe_mixup "$recipe" --set train.mixup.mixup_alpha=0.8 \
  --set train.mixup.cutmix_alpha=1.0

"$python" - "$work" <<'PY'
import json, os, statistics, sys
sys.path.insert(0, "scripts/bench")
from common import epoch_records, seed_accuracies, seed_folders, spread
work = sys.argv[1]
names = [("plain_3", "plain, 3 epochs"), ("plain_5", "plain, 5 epochs"),
         ("recipe", "recipe (3 epochs)"), ("recipe_5", "recipe at 5 epochs"),
         ("recipe_trivial", "recipe + augment + TrivialAugmentWide"),
         ("recipe_rand", "recipe + augment + RandAugment"),
         ("recipe_erasing", "recipe + augment + random erasing 0.25"),
         ("recipe_mixup", "recipe + mixup 0.8 / CutMix 1.0")]
print("demo target task, 3 seeds; test accuracy of best.pt, mean (min-max)")
print("| run | test accuracy | with --tta flip | val acc (selection) | train img/s | train s/run |")
print("|---|---|---|---|---|---|")
for name, label in names:
    folders = seed_folders(work, name)
    val, seconds = [], []
    for folder in folders:
        with open(os.path.join(folder, "summary.json")) as f:
            val.append(json.load(f)["best_value"])
        with open(os.path.join(folder, "timing.json")) as f:
            timing = json.load(f)
        seconds.append(sum(epoch["train_seconds"] for epoch in timing["epochs"]))
    speed = [epoch["images_per_s"] for folder in folders for epoch in epoch_records(folder)]
    print(f"| {label} | {spread(seed_accuracies(folders, 'none'))} | "
          f"{spread(seed_accuracies(folders, 'flip'))} | {spread(val)} | "
          f"{statistics.mean(speed):.0f} | {statistics.mean(seconds):.1f} |")
PY
