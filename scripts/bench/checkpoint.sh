#!/usr/bin/env bash
# The 224-px ResNet-18 checkpoint that scripts/bench/serve.sh and scripts/bench/export.sh measure:
# the demo's network (random weights), one epoch with a frozen backbone on 40 500x375 JPEGs,
# validated on VAL_IMAGES more. Made once per WORK_DIR; prints the checkpoint's path.
#
#   scripts/bench/checkpoint.sh WORK_DIR FTL PYTHON THREADS VAL_IMAGES
set -euo pipefail
cd "$(dirname "$0")/../.."
work="$1" ftl="$2" python="$3" threads="$4" val_images="$5"
mkdir -p "$work"
[ -f "$work/resnet18.pt" ] || "$python" scripts/model/export_model.py --arch resnet18 \
  --output "$work/resnet18.pt" >/dev/null
[ -d "$work/train" ] || "$python" scripts/bench/make_images.py "$work/train" 40 500 375 jpg 1
[ -d "$work/val" ] ||
  "$python" scripts/bench/make_images.py "$work/val" "$val_images" 500 375 jpg 2
cat >"$work/run.json" <<JSON
{"model": {"path": "$work/resnet18.pt", "freeze": "backbone"},
 "data": {"train": "$work/train", "val": "$work/val", "image_size": 224, "batch_size": 20},
 "train": {"epochs": 1, "threads": $threads}, "output": {"dir": "$work/run"}}
JSON
[ -f "$work/run/checkpoints/best.pt" ] ||
  "$ftl" -q finetune --config "$work/run.json" --overwrite >/dev/null
echo "$work/run/checkpoints/best.pt"
