"""Loads an ftl checkpoint the way a Python user would and reports what it sees.

usage: jit_logits.py CHECKPOINT INPUT.f32 N SIDE OUTPUT.json
INPUT.f32 holds N x 3 x SIDE x SIDE float32 values (native byte order), already preprocessed.
Writes {"logits": [[...]], "out_features": int, "classes": [...], "training": bool}.
The model runs as loaded: a checkpoint must be saved in eval mode to be used as it is.
"""
import json
import sys

import torch


def main() -> int:
    checkpoint, input_path, n, side, output = sys.argv[1:6]
    extra = {"ftl.json": ""}
    model = torch.jit.load(checkpoint, map_location="cpu", _extra_files=extra)
    with open(input_path, "rb") as f:
        data = bytearray(f.read())
    images = torch.frombuffer(data, dtype=torch.float32).reshape(int(n), 3, int(side), int(side))
    with torch.no_grad():
        logits = model(images)
    result = {
        "logits": logits.tolist(),
        "out_features": model.fc.out_features,
        "classes": json.loads(extra["ftl.json"])["classes"],
        "training": model.training or any(m.training for m in model.modules()),
    }
    with open(output, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
