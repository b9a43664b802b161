"""The figures of scripts/bench/export.sh: ftl export's three files from one checkpoint, their
sizes, parity and latencies beside the checkpoint's, and ONNX Runtime on the ONNX file."""
import argparse
import json
import os
import subprocess
import sys

from onnx_runtime import onnx_runtime

RUNS = 50        # single-image passes per network (the floor bench's)


def export(args, output, *flags):
    """`ftl export`'s JSON answer."""
    command = [args.ftl, "-q", "export", "--checkpoint", args.checkpoint, "--output", output,
               "--overwrite", "--threads", str(args.threads), "--check-data", args.check_data,
               *flags]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr}")
    return json.loads(result.stdout)


def floor(args, path):
    """The floor bench on a file: batch 1 and batch 8 milliseconds, as loaded and frozen."""
    result = subprocess.run([args.floor, "--checkpoint", path, "--threads", str(args.threads),
                             "--runs", str(RUNS)], capture_output=True, text=True, check=True)
    figures = dict(line.split() for line in result.stdout.splitlines() if line.strip())
    return {"loaded_1": float(figures["loaded_forward_ms_p50"]),
            "loaded_8": float(figures["loaded_batch8_forward_ms_p50"]) / 8,
            "frozen_1": float(figures["forward_ms_p50"]),
            "frozen_8": float(figures["batch8_forward_ms_p50"]) / 8,
            "frozen": figures.get("frozen") == "1", "note": result.stderr.strip()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--ftl", required=True)
    parser.add_argument("--floor", required=True, help="ftl_bench_serve_floor")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--check-data", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    files = {
        "TorchScript fp32": (os.path.join(args.work, "net.pt"), []),
        "TorchScript bf16": (os.path.join(args.work, "net_bf16.pt"), ["--precision", "bf16"]),
        "ONNX": (os.path.join(args.work, "net.onnx"), []),
    }
    results = {"checkpoint": {"bytes": os.path.getsize(args.checkpoint),
                              **floor(args, args.checkpoint)}}
    for name, (path, flags) in files.items():
        answer = export(args, path, *flags)
        row = {"bytes": answer["bytes"], "parity": answer["parity"]}
        if name == "ONNX":
            row.update(onnx_runtime(args.work, path, 224, args.threads))
        else:
            row.update(floor(args, path))
        results[name] = row
    with open(os.path.join(args.work, "bench_export.json"), "w") as f:
        json.dump(results, f, indent=2)
    print_table(results)
    return 0


def print_table(results):
    mib = 1024 * 1024
    print("| file | size (MiB) | parity: largest probability difference (generated; "
          "check images), top-1 agreement | batch 1 ms | batch 8 ms/image |")
    print("|---|---|---|---|---|")
    c = results["checkpoint"]
    print(f"| checkpoint `best.pt`, as loaded (ftl predict, evaluate) | {c['bytes'] / mib:.1f} | - "
          f"| {c['loaded_1']:.1f} | {c['loaded_8']:.1f} |")
    print(f"| checkpoint, frozen (ftl serve) | | - | {c['frozen_1']:.1f} | {c['frozen_8']:.1f} |")
    for name in ("TorchScript fp32", "TorchScript bf16", "ONNX"):
        r = results[name]
        g, d = r["parity"]["generated"], r["parity"].get("check_data", {})
        parity = (f"{g['max_probability_difference']:.1e}; "
                  f"{d.get('max_probability_difference', float('nan')):.1e}, "
                  f"{d.get('top1_agreement', float('nan')):.3f}")
        if name == "ONNX":
            print(f"| `net.onnx` in ONNX Runtime | {r['bytes'] / mib:.1f} | {parity} | "
                  f"{r['onnx_1']:.1f} | {r['onnx_8']:.1f} |")
            continue
        print(f"| `{name}`, as loaded (ftl predict, evaluate; Python's torch.jit.load) | "
              f"{r['bytes'] / mib:.1f} | {parity} | {r['loaded_1']:.1f} | {r['loaded_8']:.1f} |")
        note = "" if r["frozen"] else " (not optimised: " + r["note"][:80] + ")"
        print(f"| `{name}`, optimised for inference (ftl serve){note} | | | "
              f"{r['frozen_1']:.1f} | {r['frozen_8']:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
