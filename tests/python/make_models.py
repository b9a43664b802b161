"""Writes TorchScript files that ftl must refuse or warn about, into the folder given.

frozen.pt   torch.jit.freeze of a scripted ResNet-18: no parameters left to train
no_fc.pt    a scripted network without an `fc` submodule
traced.pt   a small traced network with BatchNorm (its training flag baked in) and an fc
scripted_small.pt the same small network scripted
"""
import os
import sys

import torch
import torchvision


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def main() -> int:
    out = sys.argv[1]
    torch.manual_seed(0)
    frozen = torch.jit.freeze(torch.jit.script(torchvision.models.resnet18().eval()))
    frozen.save(os.path.join(out, "frozen.pt"))
    torch.jit.script(torch.nn.Sequential(torch.nn.Linear(2, 2))).save(os.path.join(out, "no_fc.pt"))
    small = Small().eval()
    torch.jit.trace(small, torch.randn(2, 3, 8, 8)).save(os.path.join(out, "traced.pt"))
    torch.jit.script(small).save(os.path.join(out, "scripted_small.pt"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
