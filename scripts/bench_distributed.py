#!/usr/bin/env python3
"""Data-parallel ftl against one process, on this machine.

Run through scripts/bench_distributed.sh. Each job trains the same model on the same data and
global batch twice: once in one process with all the cores as compute threads, once as 2
ranks under torchrun (Gloo over loopback) with the cores split between them. It reports the
training images/s of the last epoch (from metrics.jsonl), the wall time, the all-reduce time
per step that rank 0 logs, and the overhead: one process's images/s over the 2 ranks'.

On one machine the 2 ranks share its cores, so the figures price the data-parallel machinery
(gradient all-reduce, split batches, two loaders), not the speed-up that more machines bring.
BatchNorm is frozen, as in the equivalence test, so both runs learn the same weights.
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (prepare_data, timed, last_epoch)

RANKS = 2
PORT = 29641  # the rendezvous port of the 2-rank runs


def config(job, data, model, run_dir, batch, threads):
    return {
        "model": {"path": model, "batchnorm": "frozen"},
        "data": {"train": os.path.join(data, job["train"]), "val": os.path.join(data, job["val"]),
                 "image_size": job["size"], "eval_resize": "stretch", "batch_size": batch,
                 "workers": 1},
        "optimizer": {"lr": bench.LR},
        "train": {"epochs": job["epochs"], "threads": threads, "seed": 0},
        "output": {"dir": run_dir},
    }


def run(job, args, data, model, ranks):
    label = f"{job['name']}_{ranks}proc"
    run_dir = os.path.join(args.out, "runs", label)
    cores = os.cpu_count()
    with open(run_dir + ".json", "w") as f:
        json.dump(config(job, data, model, run_dir, job["batch"] // ranks,
                         max(1, cores // ranks)), f, indent=2)
    command = [args.ftl, "finetune", "--config", run_dir + ".json", "--overwrite"]
    if ranks > 1:
        command = [args.python, "-m", "torch.distributed.run", "--nnodes", "1",
                   "--nproc_per_node", str(ranks), "--master_addr", "127.0.0.1",
                   "--master_port", str(PORT), "-r", "1", "-t", "1", "--no_python"] + command
    bench.log(f"{label}")
    seconds, rss = bench.timed(command, run_dir + ".log")
    last = bench.last_epoch(run_dir)
    result = {"ranks": ranks, "seconds": seconds, "train_images_per_s": last["images_per_s"],
              "val_acc": last["val_acc"], "peak_rss_mb": rss, "allreduce_ms_per_step": None}
    with open(run_dir + ".log") as log_file:
        # rank 0's epoch lines: "... img/s, all-reduce 12.34 ms/step"
        found = re.findall(r"^(?!.*\[rank [1-9]).*all-reduce ([0-9.]+) ms/step", log_file.read(),
                           re.MULTILINE)
    if found:
        result["allreduce_ms_per_step"] = float(found[-1])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--ftl", required=True)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    data, model = bench.prepare_data(args.out, args.python)
    jobs = [
        {"name": "32px_full", "train": "fmnist_train", "val": "fmnist_val", "size": 32,
         "batch": 64, "epochs": 2},
        {"name": "224px_full", "train": "photo_train", "val": "photo_val", "size": 224,
         "batch": 16, "epochs": 2},
    ]
    results = []
    for job in jobs:
        single = run(job, args, data, model, 1)
        pair = run(job, args, data, model, RANKS)
        steps = -(-{"fmnist_train": 2000, "photo_train": 96}[job["train"]] // job["batch"])
        results.append({"job": job, "single": single, "distributed": pair, "steps_per_epoch": steps})
    with open(os.path.join(args.out, "bench_distributed.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"| job | 1 process img/s | {RANKS} ranks img/s | overhead (1 proc / {RANKS} ranks) "
          "| all-reduce ms/step | all-reduce share of an epoch | wall s (1 / 2) | val acc (1 / 2) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        one, two = r["single"], r["distributed"]
        ms = two["allreduce_ms_per_step"]
        epoch_s = r["job"]["batch"] * r["steps_per_epoch"] / two["train_images_per_s"]
        share = f"{100 * ms / 1000 * r['steps_per_epoch'] / epoch_s:.0f}%" if ms else "n/a"
        print(f"| {r['job']['name']} | {one['train_images_per_s']:.0f} | "
              f"{two['train_images_per_s']:.0f} | "
              f"{one['train_images_per_s'] / two['train_images_per_s']:.2f}x | "
              f"{ms if ms is not None else 'n/a'} | {share} | "
              f"{one['seconds']:.1f} / {two['seconds']:.1f} | "
              f"{one['val_acc']:.3f} / {two['val_acc']:.3f} |")


if __name__ == "__main__":
    main()
