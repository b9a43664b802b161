"""Writes a folder of photo-like images for scripts/bench/data.sh.

usage: make_images.py OUTPUT_DIR COUNT WIDTH HEIGHT FORMAT [SEED]
Images go to OUTPUT_DIR/<class>/<n>.<format> in two classes. Each is a smooth random colour
field (a 12x9 grid of colours, upsampled bicubically) with mild noise, which JPEG compresses
about as it does a photo; pure noise would be far costlier to decode than real photos.
Folders made with different seeds (default 0) hold different images.
"""
import os
import sys

import numpy
from PIL import Image


def main() -> int:
    output, count, width, height, image_format = sys.argv[1:6]
    count, width, height = int(count), int(width), int(height)
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    random = numpy.random.default_rng(seed)
    for index in range(count):
        folder = os.path.join(output, "class_%d" % (index % 2))
        os.makedirs(folder, exist_ok=True)
        grid = random.integers(0, 256, size=(9, 12, 3), dtype=numpy.uint8)
        field = numpy.asarray(Image.fromarray(grid).resize((width, height), Image.BICUBIC))
        noisy = field.astype(numpy.int16) + random.normal(0, 6, size=field.shape).astype(numpy.int16)
        image = Image.fromarray(numpy.clip(noisy, 0, 255).astype(numpy.uint8))
        path = os.path.join(folder, "%d.%s" % (index, image_format))
        if image_format == "jpg":
            image.save(path, quality=90)
        else:
            image.save(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
