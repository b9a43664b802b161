"""Writes an image with an EXIF orientation tag and what PIL makes of it when turned upright.

usage: pil_exif.py OUTPUT_IMAGE ORIENTATION EXPECTED.rgb
The image is 6x4 pixels of distinct colours, saved as JPEG (quality 100, no chroma
subsampling) or PNG (an eXIf chunk) by the output's extension. EXPECTED.rgb receives
ImageOps.exif_transpose(Image.open(OUTPUT_IMAGE)).convert("RGB") as raw bytes; the width and
height are printed.
"""
import sys

from PIL import Image, ImageOps


def main() -> int:
    output, orientation, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    width, height = 6, 4
    image = Image.new("RGB", (width, height))
    image.putdata([(40 * x, 60 * y, 200 - 30 * x) for y in range(height) for x in range(width)])
    exif = Image.Exif()
    exif[0x0112] = orientation
    if output.lower().endswith(".png"):
        image.save(output, exif=exif)
    else:
        image.save(output, quality=100, subsampling=0, exif=exif)
    upright = ImageOps.exif_transpose(Image.open(output)).convert("RGB")
    with open(expected, "wb") as f:
        f.write(upright.tobytes())
    print(upright.width, upright.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
