#!/usr/bin/env python3
"""ftl against the PyTorch loop a user would write, side by side on this machine.

Run through scripts/bench/training.sh, which builds ftl and finds a Python with torch. Each job runs
with ftl and with scripts/bench/torch_baseline.py in turn (ABAB when --repeats is 2), with the same
data, hyperparameters, threads and loader workers, and is timed from process start to exit
(both write their checkpoints before they exit). Peak RSS is that of the process tree.

Jobs: end to end at 32 px (Fashion-MNIST PNG) and 224 px (500x375 JPEG), full fine-tuning and
frozen backbone (ftl with its feature cache, and without it: train.feature_cache "off"); ftl's
own variants of the full jobs (bf16, contiguous memory format, other thread splits); the ceiling (a tight training loop on tensors already in memory, the same
TorchScript model, in one process: tests/bench/data_bench.cpp) against ftl's training
images/s; evaluation throughput; `ftl predict` latency on one image. The short runs
(scripts/bench/short_runs.py) set ftl against the minimal PyTorch loop, with the breakdown of
each ftl run. The backbone table (scripts/bench/backbones.py) sets one epoch of ftl against the
PyTorch loop on ResNet-50, MobileNetV3-Large, EfficientNet-B0 and ConvNeXt-Tiny at 224 px.
--section short runs the short runs alone, --section backbones the backbone table alone
(its figures are added to an OUT/bench.json already there), --section long the rest.

Prints a Markdown table and writes OUT/bench.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from backbones import backbones, blas, print_backbones
from common import log, timed
from short_runs import print_short, short_runs

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
THREADS = 2  # compute threads, both sides
WORKERS = 1  # loader workers (ftl threads, PyTorch processes): ftl's default on 2 cores
LR = 0.01


def prepare_data(out, python):
    data = os.path.join(out, "data")
    convert = [python, os.path.join(SCRIPTS, "demo", "fashion_mnist_to_png.py")]
    folders = {
        "fmnist_train": convert + ["--split", "train", "--classes", "0-4", "--per-class", "400"],
        "fmnist_val": convert + ["--split", "train", "--classes", "0-4", "--per-class", "100",
                                 "--skip-per-class", "400"],
    }
    for name, command in folders.items():
        path = os.path.join(data, name)
        if not os.path.isdir(path):
            subprocess.run(command + ["--out", path], check=True, stdout=subprocess.DEVNULL)
    images = [python, os.path.join(HERE, "make_images.py")]
    for name, count in (("photo_train", 96), ("photo_val", 32)):
        path = os.path.join(data, name)
        if not os.path.isdir(path):
            subprocess.run(images + [path, str(count), "500", "375", "jpg"], check=True,
                           stdout=subprocess.DEVNULL)
    model = os.path.join(out, "resnet18.pt")
    if not os.path.isfile(model):
        subprocess.run([python, os.path.join(SCRIPTS, "model", "export_model.py"), "--arch",
                        "resnet18", "--output", model], check=True, stdout=subprocess.DEVNULL)
    return data, model


def ftl_config(job, data, model, run_dir, settings=None):
    """The job as an ftl config; settings: {"train.precision": "bf16", ...} on top."""
    config = {
        "model": {"path": model, "freeze": job["freeze"]},
        "data": {"train": os.path.join(data, job["train"]),
                 "val": os.path.join(data, job["val"]),
                 "image_size": job["size"], "eval_resize": "stretch",
                 "batch_size": job["batch"], "workers": WORKERS},
        "optimizer": {"lr": LR},
        "train": {"epochs": job["epochs"], "threads": THREADS},
        "output": {"dir": run_dir},
    }
    for key, value in (settings or {}).items():
        section, name = key.split(".")
        config.setdefault(section, {})[name] = value
    return config


def last_epoch(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as lines:
        return [json.loads(line) for line in lines][-1]


def last_epoch_rate(run_dir):
    return last_epoch(run_dir)["images_per_s"]


def ftl_variant(job, args, data, model, label, settings):
    """One ftl run of a job with other settings: wall seconds, training img/s of its last
    epoch, final validation accuracy and loss, peak RSS."""
    runs = os.path.join(args.out, "runs")
    run_dir = os.path.join(runs, f"{job['name']}_{label}")
    config_path = run_dir + ".json"
    with open(config_path, "w") as f:
        json.dump(ftl_config(job, data, model, run_dir, settings), f, indent=2)
    log(f"{job['name']}: ftl {label}")
    seconds, rss = timed([args.ftl, "finetune", "--config", config_path, "--overwrite"],
                         run_dir + ".log")
    last = last_epoch(run_dir)
    return {"label": label, "settings": settings, "seconds": seconds,
            "train_images_per_s": last["images_per_s"], "val_acc": last["val_acc"],
            "val_loss": last["val_loss"], "peak_rss_mb": rss}


def run_job(job, args, data, model):
    runs = os.path.join(args.out, "runs")
    os.makedirs(runs, exist_ok=True)
    ftl_dir = os.path.join(runs, job["name"] + "_ftl")
    config_path = os.path.join(runs, job["name"] + ".json")
    with open(config_path, "w") as f:
        json.dump(ftl_config(job, data, model, ftl_dir), f, indent=2)
    ftl = [args.ftl, "finetune", "--config", config_path, "--overwrite"]
    torch_out = os.path.join(runs, job["name"] + "_torch.json")
    torch = [args.python, os.path.join(HERE, "torch_baseline.py"), "train", "--model", model,
             "--train", os.path.join(data, job["train"]), "--val", os.path.join(data, job["val"]),
             "--image-size", str(job["size"]), "--batch-size", str(job["batch"]),
             "--epochs", str(job["epochs"]), "--lr", str(LR), "--threads", str(THREADS),
             "--workers", str(WORKERS), "--freeze", job["freeze"],
             "--save-dir", os.path.join(runs, job["name"] + "_torch"), "--output", torch_out]
    ftl_times, torch_times, ftl_rss, torch_rss, ftl_rates, torch_rates = [], [], [], [], [], []
    for repeat in range(args.repeats):
        log(f"{job['name']}: ftl ({repeat + 1}/{args.repeats})")
        seconds, rss = timed(ftl, os.path.join(runs, job["name"] + "_ftl.log"))
        ftl_times.append(seconds)
        ftl_rss.append(rss)
        ftl_rates.append(last_epoch_rate(ftl_dir))
        ftl_last = last_epoch(ftl_dir)
        log(f"{job['name']}: PyTorch ({repeat + 1}/{args.repeats})")
        seconds, _ = timed(torch, os.path.join(runs, job["name"] + "_torch.log"))
        torch_times.append(seconds)
        with open(torch_out) as f:
            result = json.load(f)
        # The process tree: the main process and its DataLoader workers, which run together.
        torch_rss.append(result["peak_rss_mb"] + WORKERS * result["peak_rss_children_mb"])
        torch_rates.append(result["train_images_per_s"])
    result = {
        "job": job,
        "ftl_val_acc": ftl_last["val_acc"], "ftl_val_loss": ftl_last["val_loss"],
        "ftl_seconds": min(ftl_times), "torch_seconds": min(torch_times),
        "ratio": min(ftl_times) / min(torch_times),
        "ftl_train_images_per_s": max(ftl_rates), "torch_train_images_per_s": max(torch_rates),
        "ftl_peak_rss_mb": max(ftl_rss), "torch_peak_rss_mb": max(torch_rss),
        "ftl_run_dir": ftl_dir,
    }
    if job["freeze"] == "backbone":
        # The same run with the backbone run every step: what the feature cache saves.
        uncached = ftl_variant(job, args, data, model, "no_feature_cache",
                               {"train.feature_cache": "off"})
        result["ftl_uncached_seconds"] = uncached["seconds"]
        result["feature_cache_speedup"] = uncached["seconds"] / result["ftl_seconds"]
    return result


def variants(job, args, data, model, fp32_rate):
    """ftl's own settings on a full fine-tuning job, each against the default run's rate."""
    out = [ftl_variant(job, args, data, model, label, settings) for label, settings in (
        ("bf16", {"train.precision": "bf16"}),
        ("contiguous", {"train.memory_format": "contiguous"}),
        ("threads2_workers2", {"data.workers": 2}),
        ("threads1_workers1", {"train.threads": 1}),
    )]
    for variant in out:
        variant["rate_vs_default"] = variant["train_images_per_s"] / fp32_rate
    return out


def ceiling(args, data, model, folder, size, batch, steps):
    """Training images/s of a tight loop on tensors in memory (ResNet-18 row of data_bench)."""
    output = subprocess.run(
        [args.bench_data, "--data", os.path.join(data, folder), "--label", folder,
         "--image-size", str(size), "--batch-size", str(batch), "--threads", str(THREADS),
         "--model", model, "--train-steps", str(steps), "--memory-format", "channels_last"],
        check=True, capture_output=True, text=True).stdout
    for line in output.splitlines():
        if "ResNet-18 training" in line:
            return float(line.strip().strip("|").split("|")[-1])
    sys.exit(f"no training row in data_bench output:\n{output}")


def evaluation(args, checkpoint, folder, runs):
    images = sum(len(files) for _, _, files in os.walk(folder))
    ftl_seconds, _ = timed([args.ftl, "evaluate", "--checkpoint", checkpoint, "--data", folder,
                            "--threads", str(THREADS)], os.path.join(runs, "evaluate_ftl.log"))
    torch_seconds, _ = timed([args.python, os.path.join(HERE, "torch_baseline.py"), "evaluate",
                              "--checkpoint", checkpoint, "--data", folder,
                              "--threads", str(THREADS)],
                             os.path.join(runs, "evaluate_torch.log"))
    return {"images": images, "ftl_images_per_s": images / ftl_seconds,
            "torch_images_per_s": images / torch_seconds,
            "ftl_seconds": ftl_seconds, "torch_seconds": torch_seconds}


def latency(args, checkpoint, image, runs):
    """ftl predict on one image, and the floor under it: `ftl --version` loads the same
    LibTorch libraries (their static initialisers run) and does nothing else."""
    times, floor = [], []
    for _ in range(5):
        seconds, rss = timed([args.ftl, "predict", "--checkpoint", checkpoint, image],
                             os.path.join(runs, "predict.log"))
        times.append(seconds)
        floor.append(timed([args.ftl, "--version"], os.path.join(runs, "version.log"))[0])
    return {"median_seconds": statistics.median(times), "all_seconds": times, "peak_rss_mb": rss,
            "startup_floor_seconds": statistics.median(floor)}


def first_image(folder):
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            return os.path.join(root, name)
    sys.exit(f"{folder}: no image")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="data, runs and bench.json go here")
    parser.add_argument("--ftl", required=True, help="the ftl executable")
    parser.add_argument("--bench-data", required=True, help="the ftl_bench_data executable")
    parser.add_argument("--python", default=sys.executable, help="Python with torch")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each job")
    parser.add_argument("--frozen-epochs", type=int, default=10, help="epochs of frozen jobs")
    parser.add_argument("--section", choices=["all", "long", "short", "backbones"],
                        default="all",
                        help="the jobs against the per-epoch loop, the short runs, the "
                             "backbone table, or all three")
    parser.add_argument("--backbone-models", default=None,
                        help="comma-separated archs of the backbone table (default: all six)")
    parser.add_argument("--backbone-fp32-only", action="store_true",
                        help="leave the backbone table's bf16 rows out")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    data, model = prepare_data(args.out, args.python)
    machine = {"cores": os.cpu_count(), "threads": THREADS, "workers": WORKERS, "blas": blas()}
    if args.section == "backbones":
        # Added to the figures of an earlier full run in the same folder, if there are any.
        path = os.path.join(args.out, "bench.json")
        results = {}
        if os.path.isfile(path):
            with open(path) as f:
                results = json.load(f)
        results["machine"] = machine
        results["backbones"] = backbones(args, data)
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
        print_backbones(results["backbones"])
        return 0
    short = short_runs(args, data, model) if args.section in ("all", "short") else None
    if args.section == "short":
        with open(os.path.join(args.out, "bench_short.json"), "w") as f:
            json.dump(short, f, indent=2)
        print_short(short)
        return 0
    jobs = [
        {"name": "32px_full", "train": "fmnist_train", "val": "fmnist_val", "size": 32,
         "batch": 64, "epochs": 2, "freeze": "none"},
        {"name": "32px_frozen", "train": "fmnist_train", "val": "fmnist_val", "size": 32,
         "batch": 64, "epochs": args.frozen_epochs, "freeze": "backbone"},
        {"name": "224px_full", "train": "photo_train", "val": "photo_val", "size": 224,
         "batch": 16, "epochs": 2, "freeze": "none"},
        {"name": "224px_frozen", "train": "photo_train", "val": "photo_val", "size": 224,
         "batch": 16, "epochs": args.frozen_epochs, "freeze": "backbone"},
    ]
    results = {"machine": machine, "jobs": [run_job(job, args, data, model) for job in jobs]}
    runs = os.path.join(args.out, "runs")
    results["variants"] = {
        r["job"]["name"]: variants(r["job"], args, data, model, r["ftl_train_images_per_s"])
        for r in results["jobs"] if r["job"]["freeze"] == "none"}
    results["ceiling"] = {
        "32px": ceiling(args, data, model, "fmnist_train", 32, 64, 10),
        "224px": ceiling(args, data, model, "photo_train", 224, 16, 6),
    }
    best = os.path.join(results["jobs"][0]["ftl_run_dir"], "checkpoints", "best.pt")
    results["evaluate_32px"] = evaluation(args, best, os.path.join(data, "fmnist_val"), runs)
    results["predict_one_image"] = latency(args, best, first_image(os.path.join(data, "fmnist_val")),
                                           runs)
    if short is not None:
        results["short_runs"] = short
    if args.section == "all":
        results["backbones"] = backbones(args, data)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(results, f, indent=2)

    print("| job | ftl s | PyTorch s | ftl / PyTorch | ftl train img/s | PyTorch train img/s "
          "| ftl peak RSS MiB | PyTorch peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results["jobs"]:
        job = r["job"]
        print(f"| {job['name']} ({job['epochs']} epochs) | {r['ftl_seconds']:.1f} | "
              f"{r['torch_seconds']:.1f} | {r['ratio']:.2f} | {r['ftl_train_images_per_s']:.1f} | "
              f"{r['torch_train_images_per_s']:.1f} | {r['ftl_peak_rss_mb']:.0f} | "
              f"{r['torch_peak_rss_mb']:.0f} |")
    for r in results["jobs"]:
        if "feature_cache_speedup" in r:
            print(f"\n{r['job']['name']}: ftl without the feature cache {r['ftl_uncached_seconds']:.1f}"
                  f" s, with it {r['ftl_seconds']:.1f} s: {r['feature_cache_speedup']:.1f}x")
    print("\n| ftl variant | s | train img/s | x default's img/s | val acc | val loss | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in results["jobs"]:
        if r["job"]["freeze"] != "none":
            continue
        name = r["job"]["name"]
        print(f"| {name} default (fp32, channels_last, 2 threads, 1 worker) | "
              f"{r['ftl_seconds']:.1f} | {r['ftl_train_images_per_s']:.1f} | 1.00 | "
              f"{r['ftl_val_acc']:.4f} | {r['ftl_val_loss']:.4f} | {r['ftl_peak_rss_mb']:.0f} |")
        for v in results["variants"][name]:
            print(f"| {name} {v['label']} | {v['seconds']:.1f} | {v['train_images_per_s']:.1f} | "
                  f"{v['rate_vs_default']:.2f} | {v['val_acc']:.4f} | {v['val_loss']:.4f} | "
                  f"{v['peak_rss_mb']:.0f} |")
    full = {r["job"]["size"]: r for r in results["jobs"] if r["job"]["freeze"] == "none"}
    for size, key in ((32, "32px"), (224, "224px")):
        rate = full[size]["ftl_train_images_per_s"]
        print(f"\nceiling {key}: tight loop {results['ceiling'][key]:.1f} img/s; ftl training "
              f"{rate:.1f} img/s = {rate / results['ceiling'][key]:.0%} of it")
    e = results["evaluate_32px"]
    print(f"evaluate ({e['images']} images, 32 px, process start to exit): ftl "
          f"{e['ftl_images_per_s']:.0f} img/s, PyTorch {e['torch_images_per_s']:.0f} img/s")
    p = results["predict_one_image"]
    print(f"ftl predict, one image, process start to answer: median {p['median_seconds']:.2f} s "
          f"(of which loading LibTorch, `ftl --version`: {p['startup_floor_seconds']:.2f} s)")
    if short is not None:
        print_short(short)
    if "backbones" in results:
        print_backbones(results["backbones"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
