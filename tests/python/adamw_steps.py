"""Three steps of torch.optim.AdamW on fixed tensors and gradients, for ftl's AdamW to match.

usage: adamw_steps.py
A weight [3, 4] with decoupled weight decay 0.05 and a bias [3] without (two parameter groups,
as ftl's no_decay_bn_bias makes them); lr 0.01, betas (0.9, 0.99), eps 1e-6. Step t (0-based)
takes the gradients sin((t + 1) x arange) and cos((t + 1) x arange). Prints the weights after
the steps as JSON: {"weight": [12 numbers], "bias": [3 numbers]}.
"""
import json
import sys

import torch

STEPS = 3


def main() -> int:
    weight = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.1 - 0.5
    bias = torch.arange(3, dtype=torch.float32) * 0.2
    weight.requires_grad_()
    bias.requires_grad_()
    optimizer = torch.optim.AdamW(
        [{"params": [weight], "weight_decay": 0.05}, {"params": [bias], "weight_decay": 0.0}],
        lr=0.01, betas=(0.9, 0.99), eps=1e-6)
    for step in range(STEPS):
        weight.grad = torch.sin(torch.arange(12, dtype=torch.float32).reshape(3, 4) * (step + 1))
        bias.grad = torch.cos(torch.arange(3, dtype=torch.float32) * (step + 1))
        optimizer.step()
    print(json.dumps({"weight": weight.detach().flatten().tolist(),
                      "bias": bias.detach().tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
