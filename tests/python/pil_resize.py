"""Resizes an image the way a torchvision-on-PIL pipeline does and writes the raw RGB bytes.

usage: pil_resize.py IMAGE SIDE OUTPUT.rgb
"""
import sys

from PIL import Image


def main() -> int:
    image, side, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    resized = Image.open(image).convert("RGB").resize((side, side), Image.BILINEAR)
    with open(output, "wb") as f:
        f.write(resized.tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
