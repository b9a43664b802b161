#!/usr/bin/env python3
"""`ftl export --format onnx`'s Python step: a frozen TorchScript network to an ONNX file.

ftl writes the network it exports as a frozen TorchScript file and runs this script with
Debian's /usr/bin/python3 (torch 1.13 and onnx 1.12: LibTorch's C++ API has no ONNX exporter).
It exports with torch.onnx.export (input "images" [N, 3, S, S], output "logits" [N, classes],
the batch axis dynamic unless --batch N), stores ftl's metadata as the model's metadata_props,
checks the file with onnx.checker, and writes it to --output. ftl then runs it in ONNX Runtime
(run_onnx.js) against the checkpoint before it keeps it.

Exit status: 0 written; 3 a Python module is missing (the last line names it); 4 the network
cannot be exported (the last line is the exporter's reason, naming the operator).

  export_onnx.py NET.pt NET.onnx FTL.json IMAGE_SIZE BATCH OPSET

(positional, as ftl passes them: BATCH 0 is a dynamic batch axis)
"""
import argparse
import json
import sys

MISSING = 3
CANNOT_EXPORT = 4


def fail(status, message):
    print(message, file=sys.stderr, flush=True)
    sys.exit(status)


def metadata_props(text):
    """ftl.json whole, plus its classes and preprocessing keys one by one for readers that
    want one value without parsing JSON."""
    metadata = json.loads(text)
    props = {"ftl.json": text, "classes": json.dumps(metadata["classes"])}
    for key, value in metadata.items():
        if key not in ("classes", "config", "metrics", "training", "export") and \
                not isinstance(value, dict):
            props[key] = value if isinstance(value, str) else json.dumps(value)
    return props


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="the frozen TorchScript network")
    parser.add_argument("output", help="the ONNX file to write")
    parser.add_argument("metadata", help="ftl.json, stored as metadata_props")
    parser.add_argument("image_size", type=int, help="side of the input")
    parser.add_argument("batch", type=int, help="a fixed batch; 0: dynamic")
    parser.add_argument("opset", type=int, help="the ONNX opset")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        fail(MISSING, "missing Python module: torch (Debian: python3-torch)")
    try:
        import onnx
    except ImportError:
        fail(MISSING, "missing Python module: onnx (Debian: python3-onnx)")
    torch.set_num_threads(1)
    network = torch.jit.load(args.input, map_location="cpu")
    example = torch.zeros(args.batch or 2, 3, args.image_size, args.image_size)
    axes = None if args.batch else {"images": {0: "batch"}, "logits": {0: "batch"}}
    try:
        torch.onnx.export(network, (example,), args.output, opset_version=args.opset,
                          input_names=["images"], output_names=["logits"], dynamic_axes=axes,
                          do_constant_folding=True)
    except Exception as error:  # the exporter's own types vary by torch version
        lines = [line for line in str(error).splitlines() if line.strip()]
        fail(CANNOT_EXPORT, f"torch.onnx.export: {lines[0] if lines else type(error).__name__}")
    model = onnx.load(args.output)
    with open(args.metadata) as f:
        for key, value in metadata_props(f.read()).items():
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:
        fail(CANNOT_EXPORT, f"onnx.checker: {error}")
    onnx.save(model, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
