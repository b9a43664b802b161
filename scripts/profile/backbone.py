#!/usr/bin/env python3
"""Where a backbone's training step spends its time: ftl's network against the PyTorch loop's.

ftl runs the TorchScript file itself (the JIT's profiling executor, LibTorch's kernels); the
PyTorch loop (scripts/bench/torch_baseline.py) runs the same weights in the eager torchvision model.
Debian's python3-torch is the same LibTorch that ftl links, so torch.jit.load here runs the
network as ftl runs it. This script times one step of each with torch.profiler, after warm-up
steps that let the profiling executor optimize its graph, in the two passes that the backbone
bench times:

  train   a training step through the whole network (forward, cross-entropy, backward)
  eval    a forward pass without gradients in eval mode (validation, and the frozen network
          that ftl's feature cache and the PyTorch loop's frozen steps run)

and prints each pass's operators by self CPU time, both sides in one table, with each side's
total. Run it with Debian's /usr/bin/python3 (scripts/lib/torch_python.sh finds it):

  backbone.py --arch vit_b_16 --model vit_b_16.pt [--batch 8] [--threads 2] [--json F]
"""
import argparse
import json
import sys
import time

WARMUP = 2  # steps before the profiled one: the profiling executor optimizes on the 2nd call
SHOWN = 12  # operators per table


def load(args):
    """(TorchScript network, eager torchvision network) with the file's weights."""
    import torch
    import torchvision
    scripted = torch.jit.load(args.model, map_location="cpu")
    state = scripted.state_dict()
    eager = torchvision.models.get_model(args.arch)
    num_classes = None
    for name, tensor in state.items():  # the last weight is the classifier's
        if name.endswith(".weight"):
            num_classes = tensor.shape[0]
    if num_classes is not None and num_classes != 1000:
        eager = torchvision.models.get_model(args.arch, num_classes=num_classes)
    eager.load_state_dict(state)
    return scripted, eager


def identity_dropout_off(model):
    """As ftl's set_training: a Dropout with p = 0 stays in eval mode (the JIT would draw its
    mask)."""
    for _, module in model.named_modules():
        if "Dropout" in module.original_name and getattr(module, "p", None) == 0.0:
            module.eval()


def step(model, images, labels, mode, keep_dropout=False):
    import torch
    if mode == "train":
        model.train()
        if isinstance(model, torch.jit.ScriptModule) and not keep_dropout:
            identity_dropout_off(model)
        for param in model.parameters():
            param.grad = None
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
    else:
        model.eval()
        with torch.no_grad():
            model(images)


def profile(model, images, labels, mode, keep_dropout=False):
    """(seconds of the profiled step, {operator: self CPU ms})."""
    import torch
    for _ in range(WARMUP):
        step(model, images, labels, mode, keep_dropout)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        step(model, images, labels, mode, keep_dropout)
        seconds = time.perf_counter() - start
    ops = {}
    for event in prof.key_averages():
        ops[event.key] = ops.get(event.key, 0.0) + event.self_cpu_time_total / 1000.0
    return seconds, ops


def table(arch, mode, batch, sides):
    (ftl_s, ftl_ops), (torch_s, torch_ops) = sides
    print(f"\n#### {arch}, {mode} step, batch {batch}: self CPU ms per operator\n")
    print(f"| operator | ftl's TorchScript | PyTorch eager | difference |")
    print("|---|---|---|---|")
    names = set(ftl_ops) | set(torch_ops)
    gaps = sorted(names, key=lambda n: -max(ftl_ops.get(n, 0.0), torch_ops.get(n, 0.0)))
    for name in gaps[:SHOWN]:
        a, b = ftl_ops.get(name, 0.0), torch_ops.get(name, 0.0)
        print(f"| `{name}` | {a:.1f} | {b:.1f} | {a - b:+.1f} |")
    rest_a = sum(ftl_ops.get(n, 0.0) for n in gaps[SHOWN:])
    rest_b = sum(torch_ops.get(n, 0.0) for n in gaps[SHOWN:])
    print(f"| {len(gaps) - SHOWN} other operators | {rest_a:.1f} | {rest_b:.1f} | "
          f"{rest_a - rest_b:+.1f} |")
    print(f"| **step wall time** | {ftl_s * 1000:.1f} | {torch_s * 1000:.1f} | "
          f"{(ftl_s - torch_s) * 1000:+.1f} ({ftl_s / torch_s:.2f}x) |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True, help="torchvision name, e.g. vit_b_16")
    parser.add_argument("--model", required=True, help="the TorchScript file ftl trains")
    parser.add_argument("--batch", type=int, default=8, help="images per step")
    parser.add_argument("--image-size", type=int, default=224, help="side of the images")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--plain", action="store_true",
                        help="run TorchScript in the plain interpreter (graph optimizer off)")
    parser.add_argument("--keep-dropout", action="store_true",
                        help="leave p = 0 Dropout in training mode, as ftl did before")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    if args.plain:
        torch._C._set_graph_executor_optimize(False)
    torch.manual_seed(0)
    scripted, eager = load(args)
    images = torch.randn(args.batch, 3, args.image_size, args.image_size)
    labels = torch.randint(0, 2, (args.batch,))
    result = {"arch": args.arch, "batch": args.batch, "threads": args.threads}
    for mode in ("train", "eval"):
        sides = [profile(scripted, images, labels, mode, args.keep_dropout),
                 profile(eager, images, labels, mode)]
        table(args.arch, mode, args.batch, sides)
        result[mode] = {"ftl_seconds": sides[0][0], "torch_seconds": sides[1][0],
                        "ftl_ops_ms": sides[0][1], "torch_ops_ms": sides[1][1]}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
