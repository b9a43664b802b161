"""ONNX Runtime's side of the benches (scripts/bench/export.sh, scripts/bench/serve.sh): an
ONNX file run by scripts/onnx/run_onnx.js (onnxruntime-node, CPU, all graph optimisations) at
batch 1 and batch 8, the median of its runs after a warm-up (as ftl's floor bench reports
its own passes: the fastest run flatters whichever side it is taken for).

    onnx_runtime.py --onnx NET.onnx --work DIR --side 224 [--threads 2]

prints `onnx_ms_batch1 X` and `onnx_ms_per_image_batch8 Y`."""
import argparse
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
ONNX_TOOLS = os.path.join(SCRIPTS, "onnx")
ORT_REPEATS = 50  # ONNX Runtime runs per batch size, after one warm-up


def onnx_runtime(work, path, side, threads):
    """ONNX Runtime's median run at batch 1 and batch 8 (per image), in milliseconds."""
    inputs = os.path.join(work, "ort_inputs.bin")
    with open(inputs, "wb") as f:
        f.write(bytes(4 * 9 * 3 * side * side))  # zeros: the time does not depend on them
    result = subprocess.run(
        ["node", os.path.join(ONNX_TOOLS, "run_onnx.js"), path, inputs,
         f"1,3,{side},{side};8,3,{side},{side}", os.path.join(work, "ort_outputs.bin"),
         str(threads), str(ORT_REPEATS)], capture_output=True, text=True, check=True)
    ms = json.loads(result.stdout)["median_ms"]
    return {"onnx_1": ms[0], "onnx_8": ms[1] / 8}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    figures = onnx_runtime(args.work, args.onnx, args.side, args.threads)
    print(f"onnx_ms_batch1 {figures['onnx_1']:.2f}")
    print(f"onnx_ms_per_image_batch8 {figures['onnx_8']:.2f}")


if __name__ == "__main__":
    main()
