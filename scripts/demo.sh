#!/usr/bin/env bash
# The demo: transfer learning on real Fashion-MNIST images, offline, in one command.
#
#   scripts/demo.sh [--arch NAME] [OUTDIR]
#
# NAME is a torchvision classifier (scripts/model/export_model.py --list; default resnet18), OUTDIR
# defaults to runs/demo for ResNet-18 and runs/demo_NAME for the others. Every family runs at
# 32 px but AlexNet (64 px: its features need 63) and MaxViT (224 px: its attention grids);
# ViT is exported for 32 px.
#
# 1. installs what is missing and builds ftl;
# 2. writes Fashion-MNIST (Debian's dataset-fashion-mnist) as PNG image folders;
# 3. exports the network (ResNet-18 unless --arch) as a TorchScript file with random weights;
# 4. pretrains it with ftl on the source task: classes 0-4, all 30,000 training images;
# 5. fine-tunes on the target task, classes 5-9 with 100 images per class, three ways:
#    pretrained and fully fine-tuned, pretrained with a frozen backbone, from random weights;
#    each with train.seed 0 (OUTDIR/<run>) and again with seeds 1 and 2 (OUTDIR/seeds/);
# 6. evaluates all three with ftl evaluate on the 5,000 test images of classes 5-9 (and the
#    pretrained network on the source task's 5,000 val images);
# 7. writes each run's report (OUTDIR/<run>/report.html), the three target runs compared
#    (OUTDIR/comparison.html) and their learning curves (OUTDIR/learning_curves.svg);
# 8. prints a comparison table (mean and min-max over the 3 seeds) and writes it as
#    OUTDIR/results.json.
# A second run reuses every finished step (delete OUTDIR to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/demo.sh [--arch NAME] [OUTDIR]"
arch=resnet18
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }; arch="$2"; shift 2 ;;
    -*) echo "$usage" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "$usage" >&2; exit 2; }; out="$1"; shift ;;
  esac
done
if [ -z "$out" ]; then
  if [ "$arch" = resnet18 ]; then out=runs/demo; else out="runs/demo_$arch"; fi
fi
# The side the family takes (32 px where it can), and what the export needs for it.
side=32
export_size=()
case "$arch" in
  alexnet) side=64 ;;
  maxvit_t) side=224 ;;
  vit_*) export_size=(--image-size "$side") ;;
esac
build_dir="${FTL_BUILD_DIR:-build}"
ftl="$build_dir/ftl"

step() { echo; echo "== $*"; }

step "1. dependencies and build"
scripts/setup.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFTL_PYTHON="$(scripts/lib/torch_python.sh)" >/dev/null
cmake --build "$build_dir" --target ftl -j "$(nproc)"

step "2. Fashion-MNIST as PNG folders in $out/data"
data="$out/data"
if [ ! -f "$data/.done" ]; then
  rm -rf "$data"
  convert=(python3 scripts/demo/fashion_mnist_to_png.py)
  "${convert[@]}" --split train --classes 0-4 --out "$data/source_train"
  "${convert[@]}" --split test --classes 0-4 --out "$data/source_val"
  "${convert[@]}" --split train --classes 5-9 --per-class 100 --out "$data/target_train"
  "${convert[@]}" --split train --classes 5-9 --per-class 100 --skip-per-class 100 \
    --out "$data/target_val"
  "${convert[@]}" --split test --classes 5-9 --out "$data/target_test"
  touch "$data/.done"
else
  echo "reusing $data"
fi

step "3. $arch with random weights"
model="$out/${arch}_random.pt"
if [ ! -f "$model" ]; then
  "$(scripts/lib/torch_python.sh)" scripts/model/export_model.py --arch "$arch" "${export_size[@]}" \
    --output "$model"
else
  echo "reusing $model"
fi

# Runs one ftl finetune step unless it finished before; paths follow OUTDIR. Arguments after
# the first five go to ftl (--set ...).
finetune() {
  local name="$1" config="$2" model_path="$3" train="$4" val="$5"
  shift 5
  local run="$out/$name"
  if [ -f "$run/.done" ]; then
    echo "reusing $run"
    return
  fi
  rm -rf "$run"
  "$ftl" finetune --config "$config" --set model.path="$model_path" \
    --set data.train="$train" --set data.val="$val" --set output.dir="$run" \
    --set data.image_size="$side" "$@" >/dev/null
  touch "$run/.done"
}

step "4. pretrain on the source task (classes 0-4, 30,000 images)"
finetune pretrain configs/demo_pretrain.json "$model" "$data/source_train" "$data/source_val"

pretrained="$out/pretrain/checkpoints/best.pt"
step "5. fine-tune on the target task (classes 5-9, 100 images per class)"
finetune pretrained_full configs/demo_target_full.json "$pretrained" \
  "$data/target_train" "$data/target_val"
finetune pretrained_frozen configs/demo_target_frozen.json "$pretrained" \
  "$data/target_train" "$data/target_val"
finetune scratch configs/demo_target_scratch.json "$model" \
  "$data/target_train" "$data/target_val"
# The same three with two more seeds (head initialisation and shuffle): a few seconds each.
for seed in 1 2; do
  finetune "seeds/pretrained_full_seed$seed" configs/demo_target_full.json "$pretrained" \
    "$data/target_train" "$data/target_val" --set train.seed="$seed"
  finetune "seeds/pretrained_frozen_seed$seed" configs/demo_target_frozen.json "$pretrained" \
    "$data/target_train" "$data/target_val" --set train.seed="$seed"
  finetune "seeds/scratch_seed$seed" configs/demo_target_scratch.json "$model" \
    "$data/target_train" "$data/target_val" --set train.seed="$seed"
done

step "6. evaluate on the 5,000 target test images (and pretraining on its 5,000 val images)"
evaluate() {
  local name="$1" test_data="$2"
  "$ftl" -q evaluate --checkpoint "$out/$name/checkpoints/best.pt" --data "$test_data" \
    --output "$out/$name/eval.json" >/dev/null
  echo "wrote $out/$name/eval.json"
}
evaluate pretrain "$data/source_val"
for name in pretrained_full pretrained_frozen scratch; do
  evaluate "$name" "$data/target_test"
  for seed in 1 2; do evaluate "seeds/${name}_seed$seed" "$data/target_test"; done
done

step "7. reports (each evaluates best.pt on the test images again, to picture its mistakes)"
report() {
  local name="$1" test_data="$2"
  "$ftl" -q report "$out/$name" --data "$test_data"
  echo "wrote $out/$name/report.html"
}
report pretrain "$data/source_val"
for name in pretrained_full pretrained_frozen scratch; do
  report "$name" "$data/target_test"
done
"$ftl" -q report "$out/pretrained_full" "$out/pretrained_frozen" "$out/scratch" \
  --output "$out/comparison.html" --svg "$out/learning_curves.svg"
echo "wrote $out/comparison.html and $out/learning_curves.svg (the target runs' curves)"

step "8. results"
python3 scripts/demo/results.py "$out" "$arch"
