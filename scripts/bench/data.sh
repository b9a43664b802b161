#!/usr/bin/env bash
# Loader throughput next to ResNet-18's training throughput, on this machine.
#
#   scripts/bench/data.sh [OUTDIR]        (default runs/bench_data)
#
# Makes three image folders (28x28 PNG for a 32px input; 500x375 JPEG and 3000x2000 JPEG for
# 224px), then prints a Markdown table: images/s delivered by the loader alone with 1 and 2
# workers, with DCT scaling off and on, without and with the memory cache (epochs 2-4),
# and ResNet-18's training images/s at the same input size (forward, backward, SGD step); at
# 224px also the loader with each training augmentation (data.augment's crop and flip, then
# TrivialAugmentWide, RandAugment, random erasing, and all but RandAugment), 2 workers.
# The table is also written to OUTDIR/bench_data.md.
source "$(dirname "$0")/common.sh"
out="${1:-runs/bench_data}"
mkdir -p "$out"
bench_build ftl_bench_data
model="$out/resnet18.pt"
[ -f "$model" ] || "$python" scripts/model/export_model.py --arch resnet18 --output "$model" >/dev/null

make_images() {  # folder count width height format
  [ -d "$out/$1" ] || "$python" scripts/bench/make_images.py "$out/$1" "$2" "$3" "$4" "$5"
}
make_images png_28 1024 28 28 png
make_images jpeg_500x375 256 500 375 jpg
make_images jpeg_3000x2000 32 3000 2000 jpg

table="$out/bench_data.md"
{
  echo "| images | input | loader workers | DCT scaling | memory cache | images/s |"
  echo "|---|---|---|---|---|---|"
  "$build/tests/ftl_bench_data" --data "$out/png_28" --label "28x28 PNG" --image-size 32 \
    --model "$model" --train-steps 10
  "$build/tests/ftl_bench_data" --data "$out/jpeg_500x375" --label "500x375 JPEG" \
    --image-size 224 --model "$model" --train-steps 3
  # The loader with each training augmentation, against the training rate just above.
  for augment in crop_flip trivial_wide rand erasing all; do
    "$build/tests/ftl_bench_data" --data "$out/jpeg_500x375" --label "500x375 JPEG" \
      --image-size 224 --augment "$augment"
  done
  "$build/tests/ftl_bench_data" --data "$out/jpeg_3000x2000" --label "3000x2000 JPEG" \
    --image-size 224 --batch-size 8
} | tee "$table"
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%d)" | tee -a "$table"
