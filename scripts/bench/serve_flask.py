"""The server a Python user would write, for scripts/bench/serve.sh: Flask around
torch.jit.load of the same checkpoint, PIL preprocessing as torchvision's evaluation recipe
(Resize, CenterCrop, ToTensor, Normalize with the checkpoint's own settings), top-5 as JSON.

    FTL_CHECKPOINT=best.pt FTL_THREADS=2 gunicorn -w 1 --threads 8 bench_serve_flask:app
"""
import io
import json
import os

import torch
from flask import Flask, jsonify, request
from PIL import Image
from torchvision import transforms

torch.set_num_threads(int(os.environ.get("FTL_THREADS", "2")))
extra = {"ftl.json": ""}
model = torch.jit.load(os.environ["FTL_CHECKPOINT"], _extra_files=extra).eval()
meta = json.loads(extra["ftl.json"])
pre = meta  # the preprocessing keys sit at the top of ftl.json
size = pre["image_size"]
resize = pre.get("resize_shorter_side") or pre.get("resize") or size * 256 // 224
transform = transforms.Compose([
    transforms.Resize(resize),
    transforms.CenterCrop(size),
    transforms.ToTensor(),
    transforms.Normalize(pre["mean"], pre["std"]),
])
classes = meta["classes"]
app = Flask(__name__)


@app.post("/v1/predict")
def predict():
    image = Image.open(io.BytesIO(request.get_data())).convert("RGB")
    with torch.no_grad():
        probabilities = model(transform(image).unsqueeze(0)).softmax(1)[0]
    values, indices = probabilities.topk(min(5, len(classes)))
    top = [{"class": classes[i], "index": int(i), "probability": float(v)}
           for v, i in zip(values.tolist(), indices.tolist())]
    return jsonify({"predictions": [{"path": "-", "top": top}]})
