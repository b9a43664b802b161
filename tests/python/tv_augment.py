"""Applies torchvision's auto-augment operations to raw RGB pixels, or prints their magnitudes.

usage: tv_augment.py apply IMAGE.rgb WIDTH HEIGHT OUTPUT.rgb OP MAGNITUDE [OP MAGNITUDE ...]
       tv_augment.py space POLICY WIDTH HEIGHT [POLICY WIDTH HEIGHT ...]
apply reads WIDTH x HEIGHT uint8 RGB pixels (HWC), applies each OP (torchvision's name, e.g.
ShearX) at MAGNITUDE to them on its own, through autoaugment._apply_op on the uint8 CHW tensor
with interpolation NEAREST and fill None (the policies' defaults), and writes the results one
after another, HWC, to OUTPUT.rgb. space prints, for each POLICY (trivial_wide or rand) and
image size, the magnitude of each operation at each of the 31 bins from the policy's
_augmentation_space, one "POLICY WIDTH HEIGHT OP BIN VALUE" line each.
"""
import sys

import torch
from torchvision.transforms import InterpolationMode, autoaugment

MAGNITUDE_BINS = 31


def apply(image_path: str, width: int, height: int, output: str, ops: list) -> None:
    with open(image_path, "rb") as f:
        pixels = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
    image = pixels.reshape(height, width, 3).permute(2, 0, 1).contiguous()
    with open(output, "wb") as f:
        for name, magnitude in zip(ops[0::2], ops[1::2]):
            result = autoaugment._apply_op(
                image, name, float(magnitude), interpolation=InterpolationMode.NEAREST, fill=None
            )
            f.write(result.permute(1, 2, 0).contiguous().numpy().tobytes())


def space(policy: str, width: int, height: int) -> None:
    if policy == "trivial_wide":
        table = autoaugment.TrivialAugmentWide()._augmentation_space(MAGNITUDE_BINS)
    else:
        table = autoaugment.RandAugment()._augmentation_space(MAGNITUDE_BINS, (height, width))
    for name, (magnitudes, _signed) in table.items():
        if magnitudes.ndim == 0:
            continue
        for index, value in enumerate(magnitudes.tolist()):
            print(policy, width, height, name, index, repr(float(value)))


def main() -> int:
    mode = sys.argv[1]
    if mode == "apply":
        image_path, width, height, output = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        apply(image_path, width, height, output, sys.argv[6:])
    else:
        triples = sys.argv[2:]
        for policy, width, height in zip(triples[0::3], triples[1::3], triples[2::3]):
            space(policy, int(width), int(height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
