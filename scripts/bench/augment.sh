#!/usr/bin/env bash
# Augmentation on the demo's target task (Fashion-MNIST classes 5-9, 100 training images per
# class, the network pretrained on classes 0-4, the 5,000 test images), 3 seeds each:
#
#   scripts/bench/augment.sh [DEMO_DIR] [EPOCHS]      (defaults runs/demo, 10)
#
# configs/demo_target_full.json at 3 epochs and at EPOCHS, then at EPOCHS with data.augment,
# with data.augment and random erasing, with mixup/CutMix (timm's 0.8 / 1.0), and with all of
# them. Each run is evaluated without and with --tta flip. Prints the mean and min-max test
# accuracy over the seeds, and training images/s (the mean over epochs and seeds).
# Runs scripts/demo.sh first when DEMO_DIR has no pretrained network.
source "$(dirname "$0")/common.sh"
demo="${1:-runs/demo}"
epochs="${2:-10}"
bench_build
# One folder per EPOCHS, so that another EPOCHS never reuses these runs.
work="$demo/bench_augment_${epochs}ep"
config=configs/demo_target_full.json

augment=(--set data.augment=true --set 'data.crop_scale=[0.35,1.0]')
erasing=(--set data.random_erasing.p=0.25)
mixing=(--set train.mixup.mixup_alpha=0.8 --set train.mixup.cutmix_alpha=1.0)

demo_seed_runs "$demo" "$work" plain_3 "$config" --set train.epochs=3
demo_seed_runs "$demo" "$work" plain "$config" --set train.epochs="$epochs"
demo_seed_runs "$demo" "$work" augment "$config" --set train.epochs="$epochs" "${augment[@]}"
demo_seed_runs "$demo" "$work" augment_erasing "$config" --set train.epochs="$epochs" \
  "${augment[@]}" "${erasing[@]}"
demo_seed_runs "$demo" "$work" mixup_cutmix "$config" --set train.epochs="$epochs" "${mixing[@]}"
demo_seed_runs "$demo" "$work" all "$config" --set train.epochs="$epochs" \
  "${augment[@]}" "${erasing[@]}" "${mixing[@]}"

"$python" - "$work" "$epochs" <<'PY'
import statistics, sys
sys.path.insert(0, "scripts/bench")
from common import epoch_records, seed_accuracies, seed_folders, spread
work, epochs = sys.argv[1], sys.argv[2]
names = [("plain_3", "plain, 3 epochs"), ("plain", f"plain, {epochs} epochs"),
         ("augment", "+ data.augment (crop_scale 0.35-1)"), ("augment_erasing", "+ augment, random erasing"),
         ("mixup_cutmix", "+ mixup/CutMix"), ("all", "+ augment, erasing, mixup/CutMix")]
print(f"demo target task, 3 seeds, {epochs} epochs unless named; test accuracy mean (min-max)")
print("| run | accuracy | with --tta flip | train img/s |")
print("|---|---|---|---|")
for name, label in names:
    folders = seed_folders(work, name)
    speed = [epoch["images_per_s"] for folder in folders for epoch in epoch_records(folder)]
    print(f"| {label} | {spread(seed_accuracies(folders, 'none'))} | "
          f"{spread(seed_accuracies(folders, 'flip'))} | {statistics.mean(speed):.0f} |")
PY
