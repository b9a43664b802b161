"""Resizes an image the way a torchvision-on-PIL pipeline does and writes the raw RGB bytes.

usage: pil_resize.py IMAGE OUTPUT.rgb stretch SIDE
       pil_resize.py IMAGE OUTPUT.rgb center_crop RESIZE CROP
stretch is Resize((SIDE, SIDE)); center_crop is Resize(RESIZE) then CenterCrop(CROP), the
ImageNet evaluation recipe. Prints the output's width and height.
"""
import sys

from PIL import Image
from torchvision import transforms


def main() -> int:
    image_path, output, mode = sys.argv[1:4]
    image = Image.open(image_path).convert("RGB")
    if mode == "stretch":
        side = int(sys.argv[4])
        pipeline = transforms.Resize((side, side), interpolation=transforms.InterpolationMode.BILINEAR)
    else:
        resize, crop = int(sys.argv[4]), int(sys.argv[5])
        pipeline = transforms.Compose([
            transforms.Resize(resize, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(crop),
        ])
    result = pipeline(image)
    with open(output, "wb") as f:
        f.write(result.tobytes())
    print(result.width, result.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
