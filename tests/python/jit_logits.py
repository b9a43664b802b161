"""Loads an ftl checkpoint the way a Python user would and reports what it sees.

usage: jit_logits.py CHECKPOINT INPUT.f32 N SIDE OUTPUT.json
INPUT.f32 holds N x 3 x SIDE x SIDE float32 values (native byte order), already preprocessed.
Writes {"logits": [[...]], "head": str, "out_features": int, "classes": [...], "training": bool}:
the head is the module that ftl.json's training.head names ("fc", "classifier.3"), and
out_features is that module's out_features (out_channels for SqueezeNet's 1x1 convolution).
The model runs as loaded: a checkpoint must be saved in eval mode to be used as it is.
"""
import json
import sys

import torch


def main() -> int:
    checkpoint, input_path, n, side, output = sys.argv[1:6]
    extra = {"ftl.json": ""}
    model = torch.jit.load(checkpoint, map_location="cpu", _extra_files=extra)
    metadata = json.loads(extra["ftl.json"])
    with open(input_path, "rb") as f:
        data = bytearray(f.read())
    images = torch.frombuffer(data, dtype=torch.float32).reshape(int(n), 3, int(side), int(side))
    with torch.no_grad():
        logits = model(images)
    head_path = metadata.get("training", {}).get("head", "fc")
    head = model
    for name in head_path.split("."):  # ScriptModules have no get_submodule
        head = getattr(head, name)
    out_features = head.out_features if hasattr(head, "out_features") else head.out_channels
    result = {
        "logits": logits.tolist(),
        "head": head_path,
        "out_features": out_features,
        "classes": metadata["classes"],
        "training": model.training or any(m.training for m in model.modules()),
    }
    with open(output, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
