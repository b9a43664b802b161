"""The backbone table for scripts/bench/training.py: ftl against the PyTorch loop on other families.

For each model below, exported with random weights by scripts/model/export_model.py, one epoch of
fine-tuning at 224 px on the 500x375 JPEGs (photo_train, validated on photo_val) runs with
`ftl finetune` (its head found by model.head "auto") and with scripts/bench/torch_baseline.py train
--arch NAME on the same file, in turn (ftl, PyTorch, ftl, PyTorch ... with --repeats), with the
same batch, learning rate, threads and loader workers, in four modes: full fine-tuning and a
frozen backbone (model.freeze "backbone": ftl on its feature cache, PyTorch through the
network with only the head's block trainable), each in fp32 and in bf16 (ftl's
train.precision "bf16", PyTorch's CPU autocast; left out on a CPU without AVX512-BF16 or AMX).
Each run is timed from process start to exit; each side's best run counts. The training img/s
are each side's own (ftl's metrics.jsonl, the baseline's JSON summary); with the cache, ftl's
img/s is the head's on cached features.

The breakdown says where each side's wall time goes: loading (the process and its libraries:
LibTorch for ftl, the interpreter and `import torch` for PyTorch), setup (data listing, model
load and checks), the feature cache (ftl), training, validation, and saving with the rest of the
exit (ftl's timing.json, the baseline's own clock). For each family whose fp32 ratio misses the
target, scripts/profile/backbone.py then profiles one training step and one eval pass of the
network as ftl runs it (TorchScript in the JIT's plain interpreter, p = 0 Dropout off) and as
the PyTorch loop runs it (eager), per operator.
"""
import json
import os
import subprocess
import sys

from common import log, timed

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
THREADS = 2  # compute threads, both sides (as bench.py's other jobs)
WORKERS = 1  # loader workers (ftl threads, PyTorch processes)
LR = 0.01
SIZE = 224  # px, both sides
BATCH = 16  # images per batch
EPOCHS = 1
TRAIN, VAL = "photo_train", "photo_val"  # bench.py's 224 px folders (96 and 32 JPEGs)
# ftl's wall time over the PyTorch loop's, per model.
TARGET = 0.85
PROFILE_BATCH = 8  # images per profiled step (half the bench's batch: ViT-B/16 takes 16 s)
# (torchvision arch, the name the table prints)
MODELS = [
    ("resnet50", "ResNet-50"),
    ("mobilenet_v3_large", "MobileNetV3-Large"),
    ("efficientnet_b0", "EfficientNet-B0"),
    ("convnext_tiny", "ConvNeXt-Tiny"),
    ("swin_t", "Swin-T"),
    ("vit_b_16", "ViT-B/16"),
]
# (freeze, precision): full fine-tuning and a frozen backbone, each in fp32 and bf16.
MODES = [("none", "fp32"), ("backbone", "fp32"), ("none", "bf16"), ("backbone", "bf16")]
BLAS = "/usr/lib/x86_64-linux-gnu/libblas.so.3"


def blas():
    """The library that LibTorch's fp32 matrix products go through (the reference BLAS
    unless OpenBLAS is installed)."""
    return os.path.realpath(BLAS) if os.path.exists(BLAS) else "none found at " + BLAS


def cpu_has_bf16():
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as ftl requires."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def count_images(folder):
    return sum(len(files) for _, _, files in os.walk(folder))


def export(args, arch):
    """The model file, exported once per output folder (random weights, seed 0)."""
    path = os.path.join(args.out, "models", arch + ".pt")
    if not os.path.isfile(path):
        log(f"backbones: exporting {arch}")
        subprocess.run([args.python, os.path.join(SCRIPTS, "model", "export_model.py"), "--arch", arch,
                        "--output", path], check=True, stdout=subprocess.DEVNULL)
    return path


def run_ftl(args, data, model, runs, arch, freeze, precision):
    """One `ftl finetune` run: wall seconds, training img/s of its epoch, val acc."""
    run_dir = os.path.join(runs, f"backbone_{arch}_{freeze}_{precision}_ftl")
    config = {
        "model": {"path": model, "freeze": freeze},
        "data": {"train": os.path.join(data, TRAIN), "val": os.path.join(data, VAL),
                 "image_size": SIZE, "eval_resize": "stretch", "batch_size": BATCH,
                 "workers": WORKERS},
        "optimizer": {"lr": LR},
        "train": {"epochs": EPOCHS, "threads": THREADS, "precision": precision},
        "output": {"dir": run_dir},
    }
    config_path = run_dir + ".json"
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2)
    seconds, rss = timed([args.ftl, "finetune", "--config", config_path, "--overwrite"],
                         run_dir + ".log")
    with open(os.path.join(run_dir, "metrics.jsonl")) as lines:
        last = [json.loads(line) for line in lines][-1]
    with open(run_dir + ".log") as f:
        cached = "feature cache: the backbone's" in f.read()
    if freeze == "backbone" and not cached:
        sys.exit(f"{run_dir}.log: the frozen run did not use the feature cache")
    with open(os.path.join(run_dir, "timing.json")) as f:
        timing = json.load(f)
    return {"seconds": seconds, "train_images_per_s": last["images_per_s"],
            "val_acc": last["val_acc"], "peak_rss_mb": rss,
            "breakdown": ftl_breakdown(seconds, timing)}


def ftl_breakdown(seconds, timing):
    """ftl's wall time by phase, from its timing.json; loading is what the process spent
    outside finetune's own clock (loading LibTorch's libraries, exit)."""
    epochs = timing["epochs"]
    phases = {
        "setup": timing["startup_seconds"],
        "features": sum(e["features_seconds"] for e in epochs),
        "train": sum(e["train_seconds"] for e in epochs),
        "validate": sum(e["validate_seconds"] for e in epochs),
        "save": sum(e["save_seconds"] for e in epochs) + timing["end_seconds"],
    }
    phases["load"] = seconds - sum(phases.values())
    return phases


def torch_breakdown(seconds, result):
    """The PyTorch loop's wall time by phase, from its own clock."""
    epochs = result["epochs"]
    phases = {
        "setup": result["setup_seconds"],
        "features": 0.0,
        "train": sum(e["train_seconds"] for e in epochs),
        "validate": sum(e["validate_seconds"] for e in epochs),
        "save": sum(e["save_seconds"] for e in epochs),
    }
    # The interpreter's start and `import torch` (timed by the script), and its exit.
    phases["load"] = seconds - sum(phases.values())
    return phases


def run_torch(args, data, model, runs, arch, freeze, precision):
    """One run of the PyTorch loop (torch_baseline.py train): the same figures."""
    out = os.path.join(runs, f"backbone_{arch}_{freeze}_{precision}_torch.json")
    command = [args.python, os.path.join(HERE, "torch_baseline.py"), "train",
               "--arch", arch, "--model", model,
               "--train", os.path.join(data, TRAIN), "--val", os.path.join(data, VAL),
               "--image-size", str(SIZE), "--batch-size", str(BATCH),
               "--epochs", str(EPOCHS), "--lr", str(LR), "--threads", str(THREADS),
               "--workers", str(WORKERS), "--freeze", freeze, "--precision", precision,
               "--save-dir", out.replace(".json", ""), "--output", out]
    log_path = out.replace(".json", ".log")
    try:
        seconds, _ = timed(command, log_path)
    except SystemExit:  # timed's report of a failed command
        # PyTorch 1.13's CPU autocast fails on some families (ConvNeXt's LayerNorm2d gets a
        # bf16 input and fp32 weights): the row says so instead of ending the bench.
        with open(log_path) as f:
            lines = [line.strip() for line in f if line.strip()]
        return {"failed": lines[-1] if lines else "no output"}
    with open(out) as f:
        result = json.load(f)
    # The process tree: the main process and its DataLoader workers, which run together.
    rss = result["peak_rss_mb"] + WORKERS * result["peak_rss_children_mb"]
    return {"seconds": seconds, "train_images_per_s": result["train_images_per_s"],
            "val_acc": result["best_val_acc"], "peak_rss_mb": rss,
            "breakdown": torch_breakdown(seconds, result)}


def backbones(args, data):
    """Every model of MODELS, ftl and PyTorch alternating; data holds bench.py's folders."""
    runs = os.path.join(args.out, "runs")
    os.makedirs(runs, exist_ok=True)
    results = {"blas": blas(), "image_size": SIZE, "batch_size": BATCH, "epochs": EPOCHS,
               "threads": THREADS, "workers": WORKERS,
               "train_images": count_images(os.path.join(data, TRAIN)),
               "val_images": count_images(os.path.join(data, VAL)),
               "target_ratio": TARGET, "models": []}
    bf16 = cpu_has_bf16() and not args.backbone_fp32_only
    modes = [m for m in MODES if m[1] == "fp32" or bf16]
    results["bf16"] = bf16
    results["profiles"] = []
    chosen = args.backbone_models.split(",") if args.backbone_models else None
    for arch, name in MODELS:
        if chosen is not None and arch not in chosen:
            continue
        model = export(args, arch)
        rows = [compare(args, data, model, runs, arch, name, freeze, precision)
                for freeze, precision in modes]
        results["models"].extend(rows)
        if any(r["precision"] == "fp32" and r.get("ratio", 0) > TARGET for r in rows):
            results["profiles"].append(profile(args, model, runs, arch))
    return results


def profile(args, model, runs, arch):
    """scripts/profile/backbone.py on the family: its tables go into the bench's output."""
    log(f"backbones: profiling {arch}")
    out = os.path.join(runs, f"profile_{arch}")
    command = [args.python, os.path.join(SCRIPTS, "profile", "backbone.py"), "--arch", arch,
               "--model", model, "--batch", str(PROFILE_BATCH), "--image-size", str(SIZE),
               "--threads", str(THREADS), "--json", out + ".json",
               "--plain"]  # ftl trains fp32 on a CPU in the JIT's plain interpreter
    timed(command, out + ".md")
    with open(out + ".md") as f:
        tables = f.read()
    with open(out + ".json") as f:
        figures = json.load(f)
    return {"arch": arch, "tables": tables,
            "train_ratio": figures["train"]["ftl_seconds"] / figures["train"]["torch_seconds"],
            "eval_ratio": figures["eval"]["ftl_seconds"] / figures["eval"]["torch_seconds"]}


def compare(args, data, model, runs, arch, name, freeze, precision):
    """ftl and PyTorch alternating in one mode; each side's best run."""
    ftl_runs, torch_runs = [], []
    for repeat in range(args.repeats):
        label = f"backbones {name} {freeze} {precision}"
        log(f"{label}: ftl ({repeat + 1}/{args.repeats})")
        ftl_runs.append(run_ftl(args, data, model, runs, arch, freeze, precision))
        log(f"{label}: PyTorch ({repeat + 1}/{args.repeats})")
        torch_runs.append(run_torch(args, data, model, runs, arch, freeze, precision))
    ftl = min(ftl_runs, key=lambda r: r["seconds"])
    failed = [r["failed"] for r in torch_runs if "failed" in r]
    if failed:
        return {"arch": arch, "name": name, "freeze": freeze, "precision": precision,
                "ftl_seconds": ftl["seconds"],
                "ftl_train_images_per_s": max(r["train_images_per_s"] for r in ftl_runs),
                "ftl_val_acc": ftl["val_acc"], "torch_failed": failed[0]}
    torch = min(torch_runs, key=lambda r: r["seconds"])
    return {
        "arch": arch, "name": name, "freeze": freeze, "precision": precision,
        "ftl_seconds": ftl["seconds"], "torch_seconds": torch["seconds"],
        "ratio": ftl["seconds"] / torch["seconds"],
        "ftl_train_images_per_s": max(r["train_images_per_s"] for r in ftl_runs),
        "torch_train_images_per_s": max(r["train_images_per_s"] for r in torch_runs),
        "ftl_val_acc": ftl["val_acc"], "torch_val_acc": torch["val_acc"],
        "ftl_peak_rss_mb": max(r["peak_rss_mb"] for r in ftl_runs),
        "torch_peak_rss_mb": max(r["peak_rss_mb"] for r in torch_runs),
        "all_ftl_seconds": [r["seconds"] for r in ftl_runs],
        "all_torch_seconds": [r["seconds"] for r in torch_runs],
        "ftl_breakdown": ftl["breakdown"], "torch_breakdown": torch["breakdown"],
    }


def print_backbones(results):
    print(f"\n### Backbones: one epoch at {results['image_size']} px, ftl against the PyTorch "
          f"loop\n")
    print("| model | mode | precision | ftl train img/s | PyTorch train img/s | ftl epoch s "
          f"| PyTorch epoch s | ftl / PyTorch (target ≤ {results['target_ratio']:.2f}, fp32) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results["models"]:
        mode = "frozen, cached" if r["freeze"] == "backbone" else "full"
        if "torch_failed" in r:
            print(f"| {r['name']} | {mode} | {r['precision']} | "
                  f"{r['ftl_train_images_per_s']:.1f} | fails: {r['torch_failed']} | "
                  f"{r['ftl_seconds']:.1f} | - | - |")
            continue
        print(f"| {r['name']} | {mode} | {r['precision']} | {r['ftl_train_images_per_s']:.1f} | "
              f"{r['torch_train_images_per_s']:.1f} | {r['ftl_seconds']:.1f} | "
              f"{r['torch_seconds']:.1f} | {r['ratio']:.2f} |")
    print(f"\nEpoch s: process start to exit; {results['train_images']} JPEGs (500x375) "
          f"trained once, {results['val_images']} validated; batch {results['batch_size']}, "
          f"{results['threads']} threads, {results['workers']} loader worker; random weights; "
          f"BLAS {results['blas']}. Frozen: ftl trains the head's block on cached features, "
          f"PyTorch runs the frozen network every step (its img/s: through the network)"
          + ("" if results.get("bf16", True) else "; no bf16 rows: this CPU has neither "
             "AVX512-BF16 nor AMX"))

    print_breakdown(results)
    for entry in results.get("profiles", []):
        print(f"\n### Where the time goes in {entry['arch']}: one step, ftl's TorchScript "
              f"network against eager PyTorch ({PROFILE_BATCH} images, {SIZE} px)")
        print(entry["tables"].rstrip())


PHASES = ["load", "setup", "features", "train", "validate", "save"]


def print_breakdown(results):
    rows = [r for r in results["models"] if "ftl_breakdown" in r]
    if not rows:
        return
    print("\n### Where each side's wall time goes (seconds)\n")
    print("| model | mode | precision | side | " + " | ".join(PHASES) + " | wall |")
    print("|---|---|---|---|" + "---|" * len(PHASES) + "---|")
    for r in rows:
        mode = "frozen" if r["freeze"] == "backbone" else "full"
        for side, key, wall in (("ftl", "ftl_breakdown", r["ftl_seconds"]),
                                ("PyTorch", "torch_breakdown", r["torch_seconds"])):
            cells = " | ".join(f"{r[key][p]:.1f}" for p in PHASES)
            print(f"| {r['name']} | {mode} | {r['precision']} | {side} | {cells} | {wall:.1f} |")
    print("\nload: the process and its libraries (LibTorch; the interpreter and `import torch`) "
          "and its exit; setup: data and model; features: ftl's feature cache (the frozen "
          "network's pass over every image); save: checkpoints and the run's end.")
