#!/usr/bin/env python3
"""Exports torchvision's ResNet-18 as a scripted TorchScript file that ftl can fine-tune.

Random weights by default (no download, so tests and the demo run offline).
--weights IMAGENET1K_V1 exports the ImageNet-pretrained network on a machine with internet.
--weights FILE.pth loads a state_dict saved with torch.save(model.state_dict(), FILE).
"""
import argparse
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="TorchScript file to write")
    parser.add_argument("--weights", default=None,
                        help="torchvision weights name (e.g. IMAGENET1K_V1) or a .pth state_dict")
    parser.add_argument("--seed", type=int, default=0, help="seed for random weights")
    args = parser.parse_args()

    try:
        import torch
        import torchvision
    except ImportError as err:
        print(f"export_resnet18.py: {err}; run it with a Python that has torch and torchvision "
              "(Debian: /usr/bin/python3 with python3-torchvision)", file=sys.stderr)
        return 2

    torch.manual_seed(args.seed)
    if args.weights and os.path.isfile(args.weights):
        model = torchvision.models.resnet18()
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    else:
        model = torchvision.models.resnet18(weights=args.weights)
    model.eval()
    scripted = torch.jit.script(model)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = args.output + ".tmp"
    scripted.save(tmp)
    os.replace(tmp, args.output)
    print(f"wrote {args.output} (weights: {args.weights or 'random, seed %d' % args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
