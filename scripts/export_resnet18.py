#!/usr/bin/env python3
"""Exports torchvision's ResNet-18 as a scripted TorchScript file that ftl can fine-tune.

The same as export_model.py --arch resnet18 (kept for the commands written before it):
  export_resnet18.py --output resnet18.pt [--weights IMAGENET1K_V1 | FILE.pth] [--seed N]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_model  # noqa: E402

if __name__ == "__main__":
    sys.exit(export_model.main(script="export_resnet18.py", default_arch="resnet18"))
