#!/usr/bin/env bash
# One member of every torchvision family fine-tuned for an epoch at 224 px with model.head
# "auto", each checked from Python (torch.jit.load of last.pt against ftl predict), and a frozen
# MobileNetV3 backbone checked bit for bit. See scripts/check/families.py.
#
#   scripts/check/families.sh [OUTDIR] [--archs a,b,...]       (default runs/families)
#
# Prints a Markdown table, writes OUTDIR/families.json, exits 1 if a check fails. About 15
# minutes on 2 cores, most of it ViT-B/16, VGG-11 and MaxViT-T.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="runs/families"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then out="$1"; shift; fi
build="${FTL_BUILD_DIR:-build}"
[ -x "$build/ftl" ] || scripts/build.sh >/dev/null
python="$(scripts/lib/torch_python.sh)"
mkdir -p "$out"
"$python" scripts/check/families.py --ftl "$build/ftl" --out "$out" --python "$python" "$@" |
  tee "$out/families.md"
echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" |
  tee -a "$out/families.md"
