"""Fine-tunes one member of each torchvision family at 224 px and checks it from Python.

  families.py --ftl build/ftl --out runs/families [--archs a,b,...] [--python PY]

Run by scripts/check/families.sh. On a folder of its own (5 Fashion-MNIST classes, 20 training
and 4 validation images each, upsampled to 224x224 PNGs so that no resize stands between ftl's
input and Python's), for each model, exported with random weights by scripts/model/export_model.py:
1. `ftl finetune` for one epoch, the whole network training, model.head left at "auto";
2. `ftl predict` on the validation images, every class's probability;
3. Python's torch.jit.load of last.pt on the same pixels: the largest difference from ftl's
   probabilities, and the head's new width as Python reads it.
Then MobileNetV3-Small with model.freeze "backbone": every tensor outside the head's block
(`classifier`, which trains whole) must come out bit-identical (torch.equal in Python). Prints a Markdown table and writes OUT/families.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
ARCHS = ["mobilenet_v3_small", "efficientnet_b0", "resnet50", "convnext_tiny", "regnet_y_400mf",
         "densenet121", "squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5", "vgg11", "swin_t",
         "vit_b_16", "maxvit_t"]
SIDE = 224  # px: every family at its default size (ViT's and MaxViT's only one)
CLASSES = range(5)  # Fashion-MNIST's first five classes
TRAIN_PER_CLASS = 20
VAL_PER_CLASS = 4
UPSAMPLE = SIDE // 28  # Fashion-MNIST's 28 px, repeated to 224
BATCH = 10
THREADS = 2
LR = 0.01
MEAN = [0.485, 0.456, 0.406]  # ImageNet's, as ftl's checkpoints record by default
STD = [0.229, 0.224, 0.225]
AGREEMENT = 1e-4  # the largest probability difference the table calls agreement
FROZEN_ARCH = "mobilenet_v3_small"


def log(text):
    print(text, file=sys.stderr, flush=True)


def write_images(out):
    """OUT/data/{train,val}/<class>/<n>.png at 224x224, from the IDX files."""
    data = os.path.join(out, "data")
    if os.path.isfile(os.path.join(data, ".done")):
        return data
    sys.path.insert(0, os.path.join(SCRIPTS, "demo"))
    import fashion_mnist_to_png as fm  # noqa: E402
    images_path, labels_path = (os.path.join(fm.DEFAULT_SOURCE, f) for f in fm.FILES["train"])
    count, images = fm.read_idx(images_path, 0x803)
    _, labels = fm.read_idx(labels_path, 0x801)
    taken = {c: 0 for c in CLASSES}
    for i in range(count):
        label = labels[8 + i]
        if label not in taken or taken[label] >= TRAIN_PER_CLASS + VAL_PER_CLASS:
            continue
        split = "train" if taken[label] < TRAIN_PER_CLASS else "val"
        pixels = torch.frombuffer(bytearray(images[16 + i * 784:16 + (i + 1) * 784]),
                                  dtype=torch.uint8).reshape(1, 28, 28)
        big = pixels.repeat_interleave(UPSAMPLE, 1).repeat_interleave(UPSAMPLE, 2)
        folder = os.path.join(data, split, fm.CLASS_NAMES[label])
        os.makedirs(folder, exist_ok=True)
        torchvision.io.write_png(big, os.path.join(folder, f"{taken[label]:03d}.png"))
        taken[label] += 1
    open(os.path.join(data, ".done"), "w").close()
    return data


def export(args, arch):
    path = os.path.join(args.out, "models", arch + ".pt")
    if not os.path.isfile(path):
        subprocess.run([args.python, os.path.join(SCRIPTS, "model", "export_model.py"), "--arch", arch,
                        "--output", path], check=True, stdout=subprocess.DEVNULL)
    return path


def finetune(args, data, model, name, freeze):
    run = os.path.join(args.out, "runs", name)
    config = {
        "model": {"path": model, "freeze": freeze},
        "data": {"train": os.path.join(data, "train"), "val": os.path.join(data, "val"),
                 "image_size": SIDE, "eval_resize": "stretch", "batch_size": BATCH,
                 "workers": 1},
        "optimizer": {"lr": LR},
        "train": {"epochs": 1, "threads": THREADS, "feature_cache": "off"},
        "output": {"dir": run},
    }
    path = run + ".json"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    start = time.time()
    done = subprocess.run([args.ftl, "finetune", "--config", path, "--overwrite"],
                          capture_output=True, text=True)
    seconds = time.time() - start
    if done.returncode != 0:
        raise RuntimeError(f"{name}: ftl finetune exited {done.returncode}:\n{done.stderr}")
    head_line = next((line for line in done.stderr.splitlines() if "model: " in line), "")
    with open(os.path.join(run, "metrics.jsonl")) as f:
        epoch = json.loads(f.readline())
    return run, seconds, epoch["images_per_s"], head_line


def ftl_probabilities(args, checkpoint, folder):
    """{path: [probability of class 0, 1, ...]} from ftl predict."""
    done = subprocess.run([args.ftl, "predict", "--checkpoint", checkpoint, "--top-k",
                           str(len(CLASSES)), folder], capture_output=True, text=True, check=True)
    result = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        row = [0.0] * len(CLASSES)
        for top in record["top"]:
            row[top["index"]] = top["probability"]
        result[record["path"]] = row
    return result


def python_view(checkpoint, paths):
    """Python's probabilities on the same pixels, the head's path and its width."""
    extra = {"ftl.json": ""}
    model = torch.jit.load(checkpoint, map_location="cpu", _extra_files=extra)
    metadata = json.loads(extra["ftl.json"])
    head_path = metadata["training"]["head"]
    head = model
    for name in head_path.split("."):
        head = getattr(head, name)
    width = head.out_features if hasattr(head, "out_features") else head.out_channels
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    images = torch.stack([torchvision.io.read_image(p, torchvision.io.ImageReadMode.RGB)
                          for p in paths]).float() / 255
    with torch.no_grad():
        logits = model((images - mean) / std)
    return logits, head_path, width, metadata["training"].get("family")


def check_model(args, data, arch):
    model = export(args, arch)
    run, seconds, images_per_s, head_line = finetune(args, data, model, arch, "none")
    checkpoint = os.path.join(run, "checkpoints", "last.pt")
    ftl_rows = ftl_probabilities(args, checkpoint, os.path.join(data, "val"))
    paths = sorted(ftl_rows)
    logits, head, width, family = python_view(checkpoint, paths)
    python_rows = torch.softmax(logits, dim=1)
    ftl_tensor = torch.tensor([ftl_rows[p] for p in paths])
    difference = (python_rows - ftl_tensor).abs().max().item()
    same_top1 = bool((python_rows.argmax(1) == ftl_tensor.argmax(1)).all())
    row = {"arch": arch, "family": family, "head": head, "python_width": width,
           "train_images_per_s": images_per_s, "finetune_seconds": round(seconds, 1),
           "max_probability_difference": difference, "same_top1": same_top1,
           "largest_logit": logits.abs().max().item(),
           "agrees": difference <= AGREEMENT and same_top1 and width == len(CLASSES),
           "log": head_line}
    log(f"{arch}: {row}")
    return row


def check_frozen(args, data):
    model = export(args, FROZEN_ARCH)
    run, _, _, _ = finetune(args, data, model, FROZEN_ARCH + "_frozen", "backbone")
    extra = {"ftl.json": ""}
    trained = torch.jit.load(os.path.join(run, "checkpoints", "last.pt"), _extra_files=extra)
    head = json.loads(extra["ftl.json"])["training"]["head_block"]
    original = torch.jit.load(model)
    before = dict(original.named_parameters()) | dict(original.named_buffers())
    after = dict(trained.named_parameters()) | dict(trained.named_buffers())
    outside = [n for n in before if not (n == head or n.startswith(head + "."))]
    changed = [n for n in outside if not torch.equal(before[n], after[n])]
    return {"arch": FROZEN_ARCH, "block": head, "tensors_outside_block": len(outside),
            "changed": changed}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ftl", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--archs", default=",".join(ARCHS))
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    data = write_images(args.out)
    rows = [check_model(args, data, arch) for arch in args.archs.split(",")]
    frozen = check_frozen(args, data)
    with open(os.path.join(args.out, "families.json"), "w") as f:
        json.dump({"rows": rows, "frozen": frozen}, f, indent=2)
    print("| model | family | head (auto) | train img/s | finetune s | max prob. diff. (Python vs "
          "ftl predict) | same top-1 | largest logit | Python's head width |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['family']} | `{r['head']}` | {r['train_images_per_s']:.1f} "
              f"| {r['finetune_seconds']:.0f} | {r['max_probability_difference']:.1e} "
              f"| {'yes' if r['same_top1'] else 'NO'} | {r['largest_logit']:.3g} "
              f"| {r['python_width']} |")
    print(f"\n{frozen['arch']} with model.freeze \"backbone\": {frozen['tensors_outside_block']} "
          f"tensors outside `{frozen['block']}`, {len(frozen['changed'])} changed")
    ok = all(r["agrees"] for r in rows) and not frozen["changed"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
