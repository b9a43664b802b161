#!/usr/bin/env python3
"""Writes Fashion-MNIST images as grey PNG files in ImageFolder layout (OUT/<class>/<n>.png).

Reads the IDX files that Debian's dataset-fashion-mnist installs; needs only the standard
library, so any python3 runs it.

  fashion_mnist_to_png.py --split train --classes 5-9 --per-class 100 --out data/target/train
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

DEFAULT_SOURCE = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["tshirt", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path, expected_magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic != expected_magic:
        raise ValueError(f"{path}: not an IDX file of the expected kind (magic {magic:#x})")
    return count, data


def png_bytes(width, height, pixels):
    """An 8-bit greyscale PNG: signature, IHDR, one IDAT, IEND."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload +
                struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def parse_classes(text):
    if "-" in text:
        first, last = (int(v) for v in text.split("-"))
        return list(range(first, last + 1))
    return [int(v) for v in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="folder of the IDX .gz files")
    parser.add_argument("--split", choices=sorted(FILES), required=True)
    parser.add_argument("--classes", default="0-9", help="class indices: 0-4 or 5,7,9")
    parser.add_argument("--per-class", type=int, default=0,
                        help="images per class, 0 = all")
    parser.add_argument("--skip-per-class", type=int, default=0,
                        help="skip this many images of each class first (disjoint subsets)")
    parser.add_argument("--out", required=True, help="output ImageFolder root")
    args = parser.parse_args()

    images_file, labels_file = (os.path.join(args.source, name) for name in FILES[args.split])
    for path in (images_file, labels_file):
        if not os.path.isfile(path):
            print(f"fashion_mnist_to_png.py: {path} is missing; install dataset-fashion-mnist "
                  "(scripts/setup.sh does)", file=sys.stderr)
            return 1
    count, images = read_idx(images_file, 0x803)
    _, labels = read_idx(labels_file, 0x801)
    rows, cols = struct.unpack(">II", images[8:16])
    wanted = set(parse_classes(args.classes))
    seen = {c: 0 for c in wanted}
    written = {c: 0 for c in wanted}
    for c in wanted:
        os.makedirs(os.path.join(args.out, CLASS_NAMES[c]), exist_ok=True)
    size = rows * cols
    for i in range(count):
        label = labels[8 + i]
        if label not in wanted:
            continue
        seen[label] += 1
        if seen[label] <= args.skip_per_class:
            continue
        if args.per_class and written[label] >= args.per_class:
            continue
        pixels = images[16 + i * size:16 + (i + 1) * size]
        path = os.path.join(args.out, CLASS_NAMES[label], f"{i:05d}.png")
        with open(path, "wb") as f:
            f.write(png_bytes(cols, rows, pixels))
        written[label] += 1
    total = sum(written.values())
    print(f"wrote {total} images of classes "
          f"{', '.join(CLASS_NAMES[c] for c in sorted(wanted))} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
