#!/usr/bin/env python3
"""The plain PyTorch baseline for `ftl finetune` and `ftl evaluate`.

This is the Python loop a PyTorch user would write for the same job, in the style of the
torchvision reference scripts. It exists only so that ftl's accuracy, speed and predictions can
be compared with PyTorch's in the same run; ftl neither needs nor calls it. Run it with a Python
that has torch and torchvision (Debian: /usr/bin/python3).

  train     fine-tune a TorchScript torchvision classifier (--arch, default resnet18) on
            ImageFolder data, like `ftl finetune`
  evaluate  run an ftl checkpoint through torch.jit.load, like `ftl evaluate`

Both print a JSON summary to stdout (and to --output when given); progress goes to stderr.
"""
import argparse
import copy
import json
import os
import resource
import sys
import time

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

# Where each torchvision family keeps its classifier, by the prefix of its arch name: the
# attribute a Python user replaces to fine-tune. "classifier[-1]" is the last Linear inside
# `classifier` (or `classifier` itself when it is one Linear, as in DenseNet).
HEADS = (
    (("resnet", "resnext", "wide_resnet", "regnet", "shufflenet"), "fc"),
    (("mobilenet", "efficientnet", "convnext", "vgg", "alexnet", "mnasnet", "maxvit",
      "densenet"), "classifier[-1]"),
    (("vit_",), "heads.head"),
    (("swin_",), "head"),
    (("squeezenet",), "classifier.1"),  # a 1x1 convolution, not a Linear
)


def log(message):
    print(message, file=sys.stderr, flush=True)


def load_rgb(path):
    from PIL import Image
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def peak_rss_mb():
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, children_kb / 1024


def write_result(result, path):
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")


def head_path(model, arch):
    """The dotted path of the classifier to replace in the eager torchvision `model`."""
    import torch
    for prefixes, rule in HEADS:
        if not arch.startswith(prefixes):
            continue
        if rule != "classifier[-1]":
            return rule
        if isinstance(model.classifier, torch.nn.Linear):
            return "classifier"
        linears = [name for name, module in model.classifier.named_children()
                   if isinstance(module, torch.nn.Linear)]
        return "classifier." + linears[-1]
    sys.exit(f"--arch {arch}: no known head for this family "
             f"(known: {', '.join(p for prefixes, _ in HEADS for p in prefixes)})")


def new_head(old, num_classes):
    """A freshly initialised head (torch.nn.Linear's or Conv2d's own init) for num_classes."""
    import torch
    if isinstance(old, torch.nn.Conv2d):
        return torch.nn.Conv2d(old.in_channels, num_classes, kernel_size=old.kernel_size)
    return torch.nn.Linear(old.in_features, num_classes)


def set_head(model, path, head):
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, head)


def run_epoch(model, loader, criterion, optimizer=None, frozen_head=None, bf16=False):
    """One pass over loader; trains when an optimizer is given. Returns loss, acc, images/s.
    frozen_head: the head's path when the backbone is frozen; the top-level children other
    than the one holding the head then stay in eval mode (their BatchNorm statistics fixed).
    bf16: the forward pass under CPU autocast to bfloat16 (the loss in float32), as
    ftl's train.precision "bf16"."""
    import torch
    training = optimizer is not None
    model.train(training)
    if training and frozen_head:
        top = frozen_head.split(".")[0]
        for name, module in model.named_children():
            if name != top:
                module.eval()
    total_loss, correct, seen = 0.0, 0, 0
    start = time.perf_counter()
    with torch.set_grad_enabled(training):
        for images, labels in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(images)
            logits = logits.float()
            loss = criterion(logits, labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total_loss += loss.item() * images.size(0)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += images.size(0)
    seconds = time.perf_counter() - start
    return total_loss / seen, correct / seen, seen / seconds


def train(args, t0, import_seconds):
    import torch
    import torchvision
    from torchvision import transforms

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    transform = transforms.Compose([
        transforms.Resize((args.image_size, args.image_size)),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    folder = torchvision.datasets.ImageFolder
    train_set = folder(args.train, transform=transform, loader=load_rgb)
    val_set = folder(args.val, transform=transform, loader=load_rgb)
    test_set = folder(args.test, transform=transform, loader=load_rgb) if args.test else None
    for other in (val_set, test_set):
        if other is not None and other.classes != train_set.classes:
            sys.exit(f"{other.root}: class folders {other.classes} differ from "
                     f"{args.train}: {train_set.classes}")
    num_classes = len(train_set.classes)

    def make_loader(dataset, shuffle):
        return torch.utils.data.DataLoader(
            dataset, batch_size=args.batch_size, shuffle=shuffle, num_workers=args.workers,
            persistent_workers=args.workers > 0)

    train_loader = make_loader(train_set, True)
    val_loader = make_loader(val_set, False)

    # Reuse the TorchScript file's weights in an eager torchvision model, then a new head.
    state = torch.jit.load(args.model, map_location="cpu").state_dict()
    model = torchvision.models.get_model(args.arch)
    head = head_path(model, args.arch)
    file_classes = state[head + ".weight"].shape[0]
    if file_classes != model.get_submodule(head).weight.shape[0]:
        model = torchvision.models.get_model(args.arch, num_classes=file_classes)
    model.load_state_dict(state)
    set_head(model, head, new_head(model.get_submodule(head), num_classes))
    log(f"{args.arch}: head {head} replaced for {num_classes} classes")
    bf16 = args.precision == "bf16"
    frozen_head = head if args.freeze == "backbone" else None
    if frozen_head:
        # The top-level module that holds the head trains whole, as ftl's "backbone" freezes
        # all but the head's block (MobileNetV3's classifier, ConvNeXt's LayerNorm2d too).
        block = head.split(".")[0]
        for name, param in model.named_parameters():
            param.requires_grad = name.startswith(block + ".")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay)
    criterion = torch.nn.CrossEntropyLoss()

    if args.minimal:
        return train_minimal(args, t0, import_seconds, model, train_loader, val_loader,
                             criterion, optimizer, train_set.classes, frozen_head)
    setup_seconds = time.perf_counter() - t0 - import_seconds  # data and model, as ftl's
    epochs, best_acc, best_state = [], -1.0, None
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        train_loss, train_acc, train_ips = run_epoch(
            model, train_loader, criterion, optimizer, frozen_head, bf16)
        train_seconds = time.perf_counter() - start
        val_loss, val_acc, _ = run_epoch(model, val_loader, criterion, bf16=bf16)
        seconds = time.perf_counter() - start
        epochs.append({"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                       "val_loss": val_loss, "val_acc": val_acc, "seconds": seconds,
                       "train_seconds": train_seconds,
                       "validate_seconds": seconds - train_seconds,
                       "train_images_per_s": train_ips})
        log(f"epoch {epoch}/{args.epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
            f"val loss {val_loss:.4f} acc {val_acc:.4f}  {seconds:.1f}s  {train_ips:.1f} img/s")
        save_start = time.perf_counter()
        improved = val_acc > best_acc
        if improved:
            best_acc, best_state = val_acc, copy.deepcopy(model.state_dict())
        if args.save_dir:  # what a user's script saves each epoch, as ftl does
            os.makedirs(args.save_dir, exist_ok=True)
            torch.save(model.state_dict(), os.path.join(args.save_dir, "last.pt"))
            if improved:
                torch.save(best_state, os.path.join(args.save_dir, "best.pt"))
        epochs[-1]["save_seconds"] = time.perf_counter() - save_start

    result = {"classes": train_set.classes, "import_seconds": import_seconds,
              "setup_seconds": setup_seconds,
              "train_images_per_s": epochs[-1]["train_images_per_s"] if epochs else None,
              "best_val_acc": best_acc, "epochs": epochs}
    if test_set is not None:
        model.load_state_dict(best_state)
        test_loss, test_acc, _ = run_epoch(model, make_loader(test_set, False), criterion)
        result.update(test_loss=test_loss, test_accuracy=test_acc)
        log(f"test (best epoch) loss {test_loss:.4f} acc {test_acc:.4f}")
    del train_loader, val_loader  # joins the persistent workers, so RUSAGE_CHILDREN sees them
    self_mb, children_mb = peak_rss_mb()
    result.update(peak_rss_mb=self_mb, peak_rss_children_mb=children_mb,
                  wall_seconds=time.perf_counter() - t0)
    write_result(result, args.output)
    return 0


def train_minimal(args, t0, import_seconds, model, train_loader, val_loader, criterion,
                  optimizer, classes, frozen_head):
    """The shortest loop that does the job: train every epoch, validate once at the end,
    save the final weights only."""
    import torch
    train_ips = None
    for epoch in range(1, args.epochs + 1):
        train_loss, train_acc, train_ips = run_epoch(model, train_loader, criterion, optimizer,
                                                     frozen_head)
        log(f"epoch {epoch}/{args.epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
            f"{train_ips:.1f} img/s")
    val_loss, val_acc, _ = run_epoch(model, val_loader, criterion)
    log(f"val loss {val_loss:.4f} acc {val_acc:.4f}")
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)
        torch.save(model.state_dict(), os.path.join(args.save_dir, "final.pt"))
    del train_loader, val_loader  # joins the persistent workers, so RUSAGE_CHILDREN sees them
    self_mb, children_mb = peak_rss_mb()
    result = {"classes": classes, "import_seconds": import_seconds,
              "train_images_per_s": train_ips, "val_loss": val_loss, "val_acc": val_acc,
              "peak_rss_mb": self_mb, "peak_rss_children_mb": children_mb,
              "wall_seconds": time.perf_counter() - t0}
    write_result(result, args.output)
    return 0


def list_images(root, classes):
    """(relative path, label) for every image below root/<class>/, labels by checkpoint order."""
    samples = []
    for name in sorted(os.listdir(root)):
        class_dir = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(class_dir):
            continue
        if name not in classes:
            sys.exit(f"{class_dir}: class unknown to the checkpoint (classes: {classes})")
        for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                if not filename.startswith(".") and filename.lower().endswith(IMAGE_EXTENSIONS):
                    path = os.path.join(dirpath, filename)
                    samples.append((os.path.relpath(path, root), classes.index(name)))
    return sorted(samples)


def evaluate(args, t0, import_seconds):
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(args.threads)
    extra = {"ftl.json": ""}
    model = torch.jit.load(args.checkpoint, map_location="cpu", _extra_files=extra)
    model.eval()
    meta = json.loads(extra["ftl.json"])
    classes, size = meta["classes"], meta["image_size"]
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(3, 1, 1)

    def preprocess(path):
        image = load_rgb(path).resize((size, size), Image.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 255.0
        return (torch.from_numpy(array).permute(2, 0, 1) - mean) / std

    samples = list_images(args.data, classes)
    if not samples:
        sys.exit(f"{args.data}: no images")
    confusion = [[0] * len(classes) for _ in classes]
    predictions = []
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(samples), args.batch_size):
            batch = samples[i:i + args.batch_size]
            images = torch.stack([preprocess(os.path.join(args.data, p)) for p, _ in batch])
            predicted = model(images).argmax(1).tolist()
            for (path, label), pred in zip(batch, predicted):
                confusion[label][pred] += 1
                predictions.append({"path": path, "label": label, "predicted": pred})
    seconds = time.perf_counter() - start
    correct = sum(confusion[c][c] for c in range(len(classes)))
    self_mb, _ = peak_rss_mb()
    result = {"checkpoint": args.checkpoint, "data": args.data, "classes": classes,
              "num_samples": len(samples), "accuracy": correct / len(samples),
              "images_per_s": len(samples) / seconds, "import_seconds": import_seconds,
              "wall_seconds": time.perf_counter() - t0, "peak_rss_mb": self_mb,
              "confusion_matrix": confusion, "predictions": predictions}
    log(f"{len(samples)} images, accuracy {result['accuracy']:.4f}, "
        f"{result['images_per_s']:.1f} img/s")
    write_result(result, args.output)
    return 0


def main():
    t0 = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="fine-tune like `ftl finetune`")
    p.add_argument("--model", required=True, help="TorchScript file of a torchvision classifier")
    p.add_argument("--arch", default="resnet18",
                   help="its torchvision name (scripts/model/export_model.py --arch), e.g. resnet50")
    p.add_argument("--train", required=True, help="training ImageFolder root")
    p.add_argument("--val", required=True, help="validation ImageFolder root")
    p.add_argument("--test", default=None, help="test ImageFolder root, run with the best epoch")
    p.add_argument("--image-size", type=int, default=32, help="side images are resized to")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, default=0.0, help="SGD weight decay")
    p.add_argument("--epochs", type=int, default=3, help="passes over the training data")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed")
    p.add_argument("--freeze", choices=["none", "backbone"], default="none",
                   help="backbone: train only the new head, backbone BN stays in eval mode")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: the forward pass under CPU autocast to bfloat16")
    p.add_argument("--output", default=None, help="also write the JSON summary here")
    p.add_argument("--save-dir", default=None,
                   help="save last.pt and best.pt here each epoch (final.pt with --minimal)")
    p.add_argument("--minimal", action="store_true",
                   help="validate once after the last epoch and save only the final weights")

    p = sub.add_parser("evaluate", help="evaluate an ftl checkpoint like `ftl evaluate`")
    p.add_argument("--checkpoint", required=True, help="ftl checkpoint (.pt with ftl.json)")
    p.add_argument("--data", required=True, help="ImageFolder root with the checkpoint's classes")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--output", default=None, help="also write the JSON result here")
    args = parser.parse_args()

    start = time.perf_counter()
    import torch  # noqa: F401  (timed: a cost a Python user pays on every run)
    import torchvision  # noqa: F401
    import_seconds = time.perf_counter() - start
    if args.command == "train":
        return train(args, t0, import_seconds)
    return evaluate(args, t0, import_seconds)


if __name__ == "__main__":
    sys.exit(main())
