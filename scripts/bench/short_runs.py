"""The short jobs that fine-tuning on a few hundred images mostly is, for scripts/bench/training.py.

Each job runs with ftl (its defaults, train.threads 2) and with the minimal PyTorch loop
(scripts/bench/torch_baseline.py train --minimal: torchvision ImageFolder + DataLoader with 2 worker
processes, 2 threads, validation once after the last epoch, only the final weights saved), in
turn, ABAB..., and each side's best run counts. Beside each ratio is the breakdown of ftl's
best run: the process and LibTorch's load (`ftl --version`), start-up (of which the data and
the model's load and check), the feature extraction, each epoch's training, validation and
checkpoint time (the run's timing.json), the end (the checkpoints' fsyncs, summary.json) and
the rest (the process's exit and what no timer covers). Opt-in settings run once more each.
"""
import json
import os
import re
import shutil
import statistics
import subprocess

from common import log, timed

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
THREADS = 2
MINIMAL_WORKERS = 2
LR = 0.01
# The targets, as ftl's seconds over the minimal loop's.
TARGETS = {"500_32px": 0.85, "5000_32px": 0.80, "frozen_224px": 0.10}
# ftl predict on one image: at most this many seconds over `ftl --version`.
PREDICT_TARGET_SECONDS = 0.15
PREDICT_REPEATS = 7
# train.deterministic runs the plain TorchScript interpreter, without the profiling executor's
# warm-up (and deterministic kernels, which on a CPU change almost nothing).
PLAIN = "deterministic (plain interpreter)"

JOBS = [
    {"name": "500_32px", "train": "fmnist_500", "val": "fmnist_200", "size": 32, "batch": 64,
     "epochs": 3, "freeze": "none",
     "variants": {"val_every 3": {"train.val_every": 3}, PLAIN: {"train.deterministic": True}}},
    {"name": "5000_32px", "train": "fmnist_5000", "val": "fmnist_val_500", "size": 32,
     "batch": 64, "epochs": 2, "freeze": "none",
     "variants": {"val_every 2": {"train.val_every": 2}, PLAIN: {"train.deterministic": True}}},
    {"name": "500_224px", "train": "photo_500", "val": "photo_200", "size": 224, "batch": 16,
     "epochs": 1, "freeze": "none", "variants": {PLAIN: {"train.deterministic": True}}},
    {"name": "frozen_224px", "train": "photo_500", "val": "photo_200", "size": 224, "batch": 16,
     "epochs": 10, "freeze": "backbone",
     "variants": {"bf16": {"train.precision": "bf16"}}},
    # bf16 extraction's accuracy, on images whose labels mean something (the JPEGs above are
    # random colour fields): ftl alone, fp32 against bf16.
    {"name": "frozen_224px_fmnist", "train": "fmnist_500", "val": "fmnist_200", "size": 224,
     "batch": 16, "epochs": 10, "freeze": "backbone", "minimal": False,
     "variants": {"bf16": {"train.precision": "bf16"}}},
]


def prepare(data, python):
    """The jobs' folders: Fashion-MNIST PNGs (validation disjoint from training) and 500x375
    JPEGs (validation drawn with another seed)."""
    convert = [python, os.path.join(SCRIPTS, "demo", "fashion_mnist_to_png.py"), "--split", "train",
               "--classes", "0-4"]
    plan = [
        ("fmnist_500", convert + ["--per-class", "100"]),
        ("fmnist_5000", convert + ["--per-class", "1000"]),
        ("fmnist_200", convert + ["--per-class", "40", "--skip-per-class", "1000"]),
        ("fmnist_val_500", convert + ["--per-class", "100", "--skip-per-class", "1000"]),
    ]
    images = [python, os.path.join(HERE, "make_images.py")]
    for name, count, seed in (("photo_500", 500, 1), ("photo_200", 200, 2)):
        plan.append((name, images + ["OUT", str(count), "500", "375", "jpg", str(seed)]))
    for name, command in plan:
        path = os.path.join(data, name)
        if os.path.isdir(path):
            continue
        if "OUT" in command:
            command = [path if part == "OUT" else part for part in command]
        else:
            command = command + ["--out", path]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def ftl_config(job, data, model, run_dir, settings):
    config = {
        "model": {"path": model, "freeze": job["freeze"]},
        "data": {"train": os.path.join(data, job["train"]),
                 "val": os.path.join(data, job["val"]),
                 "image_size": job["size"], "eval_resize": "stretch",
                 "batch_size": job["batch"]},
        "optimizer": {"lr": LR},
        "train": {"epochs": job["epochs"], "threads": THREADS},
        "output": {"dir": run_dir},
    }
    for key, value in settings.items():
        section, name = key.split(".")
        config.setdefault(section, {})[name] = value
    return config


def run_ftl(args, job, data, model, runs, label, settings):
    """One ftl run: wall seconds, its timing.json, its last metrics line."""
    run_dir = os.path.join(runs, f"short_{job['name']}_{label}")
    config_path = run_dir + ".json"
    with open(config_path, "w") as f:
        json.dump(ftl_config(job, data, model, run_dir, settings), f, indent=2)
    seconds, _ = timed([args.ftl, "finetune", "--config", config_path, "--overwrite"],
                       run_dir + ".log")
    with open(os.path.join(run_dir, "timing.json")) as f:
        timing = json.load(f)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        last = [json.loads(line) for line in f][-1]
    return {"seconds": seconds, "timing": timing, "val_acc": last["val_acc"],
            "val_loss": last["val_loss"], "run_dir": run_dir}


def run_minimal(args, job, data, model, runs):
    out = os.path.join(runs, f"short_{job['name']}_minimal.json")
    command = [args.python, os.path.join(HERE, "torch_baseline.py"), "train", "--minimal",
               "--model", model, "--train", os.path.join(data, job["train"]),
               "--val", os.path.join(data, job["val"]), "--image-size", str(job["size"]),
               "--batch-size", str(job["batch"]), "--epochs", str(job["epochs"]),
               "--lr", str(LR), "--threads", str(THREADS), "--workers", str(MINIMAL_WORKERS),
               "--freeze", job["freeze"],
               "--save-dir", os.path.join(runs, f"short_{job['name']}_minimal"),
               "--output", out]
    seconds, _ = timed(command, out.replace(".json", ".log"))
    with open(out) as f:
        result = json.load(f)
    return {"seconds": seconds, "val_acc": result["val_acc"]}


def breakdown(run, floor):
    """Where an ftl run's wall seconds went."""
    timing = run["timing"]
    epochs = timing["epochs"]
    parts = {
        "load": floor,
        "startup": timing["startup_seconds"],
        "data": timing["data_seconds"],
        "model": timing["model_seconds"],
        "features": sum(e["features_seconds"] for e in epochs),
        "train": sum(e["train_seconds"] for e in epochs),
        "train_first": epochs[0]["train_seconds"] if epochs else 0.0,
        "validate": sum(e["validate_seconds"] for e in epochs),
        "save": sum(e["save_seconds"] for e in epochs),
        "end": timing["end_seconds"],
    }
    counted = (floor + parts["startup"] + parts["features"] + parts["train"] +
               parts["validate"] + parts["save"] + parts["end"])
    parts["rest"] = run["seconds"] - counted
    return parts


def startup_floor(args, runs, repeats=PREDICT_REPEATS):
    """`ftl --version`: the process start and LibTorch's load, which every command pays."""
    return statistics.median(
        timed([args.ftl, "--version"], os.path.join(runs, "version.log"))[0]
        for _ in range(repeats))


def run_job(args, job, data, model, runs, floor):
    ftl_runs, minimal_runs = [], []
    repeats = args.repeats if job.get("minimal", True) else 1
    for repeat in range(repeats):
        log(f"short {job['name']}: ftl ({repeat + 1}/{args.repeats})")
        run = run_ftl(args, job, data, model, runs, "ftl", {})
        # The next repeat overwrites the folder: keep the timing of each.
        shutil.copy(os.path.join(run["run_dir"], "timing.json"),
                    os.path.join(runs, f"short_{job['name']}_timing_{repeat + 1}.json"))
        ftl_runs.append(run)
        if job.get("minimal", True):
            log(f"short {job['name']}: minimal PyTorch loop ({repeat + 1}/{args.repeats})")
            minimal_runs.append(run_minimal(args, job, data, model, runs))
    best = min(ftl_runs, key=lambda r: r["seconds"])
    minimal = min(minimal_runs, key=lambda r: r["seconds"]) if minimal_runs else None
    result = {"job": {k: v for k, v in job.items() if k != "variants"},
              "ftl_seconds": best["seconds"],
              "minimal_seconds": minimal["seconds"] if minimal else None,
              "ratio": best["seconds"] / minimal["seconds"] if minimal else None,
              "target": TARGETS.get(job["name"]), "ftl_val_acc": best["val_acc"],
              "minimal_val_acc": minimal["val_acc"] if minimal else None,
              "breakdown": breakdown(best, floor), "variants": []}
    for label, settings in job["variants"].items():
        log(f"short {job['name']}: ftl {label}")
        slug = re.sub(r"[^a-z0-9]+", "_", label).strip("_")
        run = run_ftl(args, job, data, model, runs, slug, settings)
        result["variants"].append({"label": label, "settings": settings,
                                   "seconds": run["seconds"],
                                   "ratio": run["seconds"] / minimal["seconds"]
                                   if minimal else None,
                                   "val_acc": run["val_acc"],
                                   "breakdown": breakdown(run, floor)})
    return result


def predict_latency(args, checkpoint, image, runs, floor):
    times = [timed([args.ftl, "predict", "--checkpoint", checkpoint, image],
                   os.path.join(runs, "short_predict.log"))[0] for _ in range(PREDICT_REPEATS)]
    median = statistics.median(times)
    return {"median_seconds": median, "version_seconds": floor, "over_version": median - floor,
            "target_over_version": PREDICT_TARGET_SECONDS}


def first_image(folder):
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            return os.path.join(root, name)
    raise SystemExit(f"{folder}: no image")


def short_runs(args, data, model):
    prepare(data, args.python)
    runs = os.path.join(args.out, "runs")
    os.makedirs(runs, exist_ok=True)
    floor = startup_floor(args, runs)
    jobs = [run_job(args, job, data, model, runs, floor) for job in JOBS]
    checkpoint = os.path.join(runs, "short_500_32px_ftl", "checkpoints", "best.pt")
    predict = predict_latency(args, checkpoint, first_image(os.path.join(data, "fmnist_200")),
                              runs, startup_floor(args, runs))
    return {"jobs": jobs, "predict_one_image": predict, "version_seconds": floor}


def print_short(results):
    print("\n### Short runs: ftl against the minimal PyTorch loop\n")
    print("| job | ftl s | minimal loop s | ftl / minimal | target | ftl val acc "
          "| minimal val acc |")
    print("|---|---|---|---|---|---|---|")
    def figure(value, form):
        return "-" if value is None else format(value, form)

    for r in results["jobs"]:
        name = r["job"]["name"] + f" ({r['job']['epochs']} epochs)"
        minimal = figure(r["minimal_seconds"], ".1f")
        target = f"≤ {r['target']:.2f}" if r["target"] else "-"
        print(f"| {name} | {r['ftl_seconds']:.1f} | {minimal} | {figure(r['ratio'], '.2f')} | "
              f"{target} | {r['ftl_val_acc']:.4f} | {figure(r['minimal_val_acc'], '.4f')} |")
        for v in r["variants"]:
            print(f"| {r['job']['name']} with {v['label']} | {v['seconds']:.1f} | {minimal} "
                  f"| {figure(v['ratio'], '.2f')} | {target} | {v['val_acc']:.4f} | |")
    p = results["predict_one_image"]
    print(f"\nftl predict, one image: median {p['median_seconds']:.3f} s; `ftl --version` "
          f"{p['version_seconds']:.3f} s; over it {p['over_version']:.3f} s "
          f"(target ≤ {p['target_over_version']:.2f} s)")
    print("\nWhere ftl's seconds went (best run; seconds):\n")
    print("| job | wall | process + LibTorch load | start-up (data, model) | features "
          "| train (epoch 1) | validate | save | end | rest |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results["jobs"]:
        runs = [(r["job"]["name"], r["ftl_seconds"], r["breakdown"])]
        runs += [(f"{r['job']['name']} with {v['label']}", v["seconds"], v["breakdown"])
                 for v in r["variants"]]
        for name, seconds, b in runs:
            print(f"| {name} | {seconds:.2f} | {b['load']:.2f} | {b['startup']:.2f} "
                  f"({b['data']:.2f}, {b['model']:.2f}) | {b['features']:.2f} | "
                  f"{b['train']:.2f} ({b['train_first']:.2f}) | {b['validate']:.2f} | "
                  f"{b['save']:.2f} | {b['end']:.2f} | {b['rest']:.2f} |")
