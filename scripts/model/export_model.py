#!/usr/bin/env python3
"""Exports a torchvision classifier as a scripted TorchScript file that ftl can fine-tune.

  export_model.py --arch mobilenet_v3_large --output models/mobilenet_v3_large.pt
  export_model.py --arch efficientnet_b0 --weights IMAGENET1K_V1 --output effnet.pt
  export_model.py --list

--arch is any name in torchvision.models.list_models() whose family ftl fine-tunes (--list
shows them); ftl refuses GoogLeNet and Inception v3, and so does this script.
Random weights by default (no download, so tests and the demo run offline).
--weights NAME exports torchvision's pretrained weights (IMAGENET1K_V1, DEFAULT, ...) on a
machine with internet; --weights FILE.pth loads a state_dict saved with
torch.save(model.state_dict(), FILE).
--image-size N builds a ViT (image_size) or MaxViT (input_size) for N x N inputs, the only
size those take (224 by default); with pretrained weights ViT's positional embedding must
then fit N, as torchvision checks. Every other family takes any size and refuses the flag.
"""
import argparse
import os
import sys

# Families whose scripted forward is not a plain tensor of logits, with the reason ftl gives.
REFUSED = {
    "googlenet": "its scripted forward returns GoogLeNetOutputs (the logits with two "
                 "auxiliary classifiers' logits), not a tensor",
    "inception_v3": "its scripted forward returns InceptionOutputs (the logits with the "
                    "auxiliary classifier's logits), not a tensor",
}


def import_torch(script):
    try:
        import torch
        import torchvision
    except ImportError as err:
        print(f"{script}: {err}; run it with a Python that has torch and torchvision "
              "(Debian: /usr/bin/python3 with python3-torchvision, or scripts/lib/torch_python.sh)",
              file=sys.stderr)
        sys.exit(2)
    return torch, torchvision


# The families built for one input size, and the constructor argument that sets it.
SIZED = {"vit_": lambda n: {"image_size": n}, "maxvit_": lambda n: {"input_size": (n, n)}}


def size_arguments(arch, image_size):
    """The constructor's keyword for --image-size, or None where the family takes any size."""
    if image_size is None:
        return {}
    for prefix, arguments in SIZED.items():
        if arch.startswith(prefix):
            return arguments(image_size)
    return None


def build(torchvision, torch, arch, weights, sized=None):
    """The eager model: random weights, torchvision's named weights, or a state_dict file."""
    sized = sized or {}
    if weights and os.path.isfile(weights):
        model = torchvision.models.get_model(arch, weights=None, **sized)
        model.load_state_dict(torch.load(weights, map_location="cpu"))
        return model
    return torchvision.models.get_model(arch, weights=weights, **sized)


def save_scripted(torch, model, output):
    """Scripts the model in eval mode and writes it atomically to `output`."""
    model.eval()
    scripted = torch.jit.script(model)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = output + ".tmp"
    scripted.save(tmp)
    os.replace(tmp, output)


def export(arch, output, weights=None, seed=0, script="export_model.py", image_size=None):
    torch, torchvision = import_torch(script)
    names = torchvision.models.list_models(module=torchvision.models)
    if arch not in names:
        print(f"{script}: --arch {arch!r} is not a torchvision classifier; "
              f"one of: {', '.join(sorted(n for n in names if n not in REFUSED))}",
              file=sys.stderr)
        return 2
    if arch in REFUSED:
        print(f"{script}: ftl cannot fine-tune {arch}: {REFUSED[arch]}", file=sys.stderr)
        return 2
    sized = size_arguments(arch, image_size)
    if sized is None:
        print(f"{script}: --image-size is for ViT and MaxViT, which take one input size; "
              f"{arch} takes any size: leave the flag out", file=sys.stderr)
        return 2
    torch.manual_seed(seed)
    save_scripted(torch, build(torchvision, torch, arch, weights, sized), output)
    print(f"wrote {output} ({arch}, weights: {weights or 'random, seed %d' % seed})")
    return 0


def main(argv=None, script="export_model.py"):
    parser = argparse.ArgumentParser(prog=script, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", help="torchvision model name")
    parser.add_argument("--output", help="TorchScript file to write")
    parser.add_argument("--weights", default=None,
                        help="torchvision weights name (e.g. IMAGENET1K_V1) or a .pth state_dict")
    parser.add_argument("--seed", type=int, default=0, help="seed for random weights")
    parser.add_argument("--image-size", type=int, default=None,
                        help="ViT and MaxViT only: the input side they are built for")
    parser.add_argument("--list", action="store_true", help="print the archs ftl fine-tunes")
    args = parser.parse_args(argv)
    if args.list:
        _, torchvision = import_torch(script)
        for name in sorted(torchvision.models.list_models(module=torchvision.models)):
            if name not in REFUSED:
                print(name)
        return 0
    if not args.arch or not args.output:
        parser.error("--arch and --output are required")
    if args.image_size is not None and args.image_size <= 0:
        parser.error("--image-size must be a positive number of pixels")
    return export(args.arch, args.output, args.weights, args.seed, script, args.image_size)


if __name__ == "__main__":
    sys.exit(main())
