"""Where ftl's frozen fp32 network and ONNX Runtime spend a forward pass, per operator: the
checkpoint's network frozen and optimised as ftl serve, evaluate and predict run it (the same
LibTorch passes, torch.jit.freeze and optimize_for_inference, through Debian's Python), timed
by torch.profiler, and the ONNX file `ftl export --format onnx` wrote from it, timed by ONNX
Runtime's own profiler (scripts/onnx/profile_onnx.js), at batch 1 and batch 8, 2 threads.

    profile_inference.py --checkpoint best.pt --onnx net.onnx --work DIR [--runs 20]

Prints, per batch size, each side's milliseconds per pass and its operators' share."""
import argparse
import json
import os
import subprocess
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
WARM_UPS = 5


def torch_profile(network, batch, side, runs):
    """Median wall ms per pass, and self CPU ms per pass of each operator."""
    images = torch.zeros(batch, 3, side, side)
    walls = []
    with torch.no_grad(), torch.jit.optimized_execution(False):
        for _ in range(WARM_UPS):
            network(images)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                start = time.perf_counter()
                network(images)
                walls.append((time.perf_counter() - start) * 1000)
    ops = {}
    for event in prof.key_averages():
        ops[event.key] = event.self_cpu_time_total / 1000 / runs
    walls.sort()
    return walls[len(walls) // 2], ops


def onnx_profile(args, batch, side):
    result = subprocess.run(
        ["node", os.path.join(SCRIPTS, "onnx", "profile_onnx.js"), args.onnx, str(batch), str(side),
         str(args.threads), str(args.runs), args.work], capture_output=True, text=True, check=True)
    answer = json.loads(result.stdout)
    return answer["ms_per_run"], answer["ops"]


def print_side(name, wall, ops):
    total = sum(ops.values())
    print(f"  {name}: {wall:.2f} ms per pass (profiled operators {total:.2f} ms)")
    for op, ms in sorted(ops.items(), key=lambda item: -item[1])[:8]:
        if ms >= 0.05:
            print(f"    {op:<36} {ms:7.2f} ms  {100 * ms / total:5.1f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(args.threads)
    extra = {"ftl.json": ""}
    loaded = torch.jit.load(args.checkpoint, _extra_files=extra).eval()
    side = json.loads(extra["ftl.json"])["image_size"]
    network = torch.jit.optimize_for_inference(torch.jit.freeze(loaded))
    for batch in (1, 8):
        print(f"batch {batch}, {side} px, {args.threads} threads:")
        print_side("LibTorch, frozen and optimised", *torch_profile(network, batch, side, args.runs))
        print_side("ONNX Runtime", *onnx_profile(args, batch, side))


if __name__ == "__main__":
    main()
