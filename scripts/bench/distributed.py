#!/usr/bin/env python3
"""Data-parallel ftl against one process, on this machine.

Run through scripts/bench/distributed.sh. Each job trains the same model on the same data and
global batch twice: once in one process with all the cores as compute threads, once as N
ranks (--ranks, default 2) under torchrun (Gloo over loopback) with the cores split between
them. It reports the training images/s of the last epoch (from metrics.jsonl), the wall time,
the all-reduce time per step that rank 0 logs, the overhead (one process's images/s over the
ranks'), the feature cache's extraction time (frozen job), and how far the final weights of
the two runs are apart. For scale, the same distance between one process on 1 thread and on
all cores: the float rounding that training amplifies whatever splits the sums.

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
import training as bench  # noqa: E402  (prepare_data, timed, last_epoch)

PORT = 29641  # the rendezvous port of the distributed runs


def config(job, data, model, run_dir, batch, threads):
    return {
        "model": {"path": model, "batchnorm": "frozen", "freeze": job["freeze"]},
        "data": {"train": os.path.join(data, job["train"]), "val": os.path.join(data, job["val"]),
                 "image_size": job["size"], "eval_resize": "stretch", "batch_size": batch,
                 "workers": 1},
        "optimizer": {"lr": bench.LR},
        "train": {"epochs": job["epochs"], "threads": threads, "seed": 0},
        "output": {"dir": run_dir},
    }


def max_weight_difference(a, b):
    import torch  # the Python that runs this script has it (scripts/lib/torch_python.sh)
    first = dict(torch.jit.load(os.path.join(a, "checkpoints", "last.pt")).named_parameters())
    second = torch.jit.load(os.path.join(b, "checkpoints", "last.pt")).named_parameters()
    return max((p - first[name]).abs().max().item() for name, p in second)


def run(job, args, data, model, ranks, threads=None):
    label = f"{job['name']}_{ranks}proc" + (f"_{threads}threads" if threads else "")
    run_dir = os.path.join(args.out, "runs", label)
    cores = os.cpu_count()
    with open(run_dir + ".json", "w") as f:
        json.dump(config(job, data, model, run_dir, job["batch"] // ranks,
                         threads or max(1, cores // ranks)), f, indent=2)
    command = [args.ftl, "finetune", "--config", run_dir + ".json", "--overwrite"]
    if ranks > 1:
        command = [args.python, "-m", "torch.distributed.run", "--nnodes", "1",
                   "--nproc_per_node", str(ranks), "--master_addr", "127.0.0.1",
                   "--master_port", str(PORT), "-r", "1", "-t", "1", "--no_python"] + command
    bench.log(f"{label}")
    seconds, rss = bench.timed(command, run_dir + ".log")
    last = bench.last_epoch(run_dir)
    result = {"ranks": ranks, "run_dir": run_dir, "seconds": seconds,
              "train_images_per_s": last["images_per_s"], "val_acc": last["val_acc"],
              "peak_rss_mb": rss, "allreduce_ms_per_step": None, "extraction_s": None}
    with open(run_dir + ".log") as log_file:
        text = log_file.read()
    # rank 0's lines: "... img/s, all-reduce 12.34 ms/step", "... images ready in 2.6s"
    rank0 = r"^(?!.*\[rank [1-9])"
    found = re.findall(rank0 + r".*all-reduce ([0-9.]+) ms/step", text, re.MULTILINE)
    if found:
        result["allreduce_ms_per_step"] = float(found[-1])
    found = re.findall(rank0 + r".*feature cache: .* ready in ([0-9.]+)s", text, re.MULTILINE)
    if found:
        result["extraction_s"] = float(found[-1])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--ftl", required=True)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--ranks", type=int, default=2, help="processes of the distributed runs")
    args = parser.parse_args()
    ranks = args.ranks
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    data, model = bench.prepare_data(args.out, args.python)
    # The global batch divides by every rank count the script is run with (2, 3, 4, 6).
    jobs = [
        {"name": "32px_full", "train": "fmnist_train", "val": "fmnist_val", "size": 32,
         "batch": 72, "epochs": 2, "freeze": "none"},
        {"name": "32px_frozen", "train": "fmnist_train", "val": "fmnist_val", "size": 32,
         "batch": 72, "epochs": 3, "freeze": "backbone"},
        {"name": "224px_full", "train": "photo_train", "val": "photo_val", "size": 224,
         "batch": 12, "epochs": 2, "freeze": "none"},
    ]
    results = []
    for job in jobs:
        single = run(job, args, data, model, 1)
        spread = run(job, args, data, model, ranks)
        steps = -(-{"fmnist_train": 2000, "photo_train": 96}[job["train"]] // job["batch"])
        results.append({"job": job, "single": single, "distributed": spread,
                        "steps_per_epoch": steps,
                        "max_weight_difference": max_weight_difference(single["run_dir"],
                                                                       spread["run_dir"])})
    one_thread = run(jobs[0], args, data, model, 1, threads=1)
    rounding = max_weight_difference(results[0]["single"]["run_dir"], one_thread["run_dir"])
    with open(os.path.join(args.out, "bench_distributed.json"), "w") as f:
        json.dump({"jobs": results, "rounding_floor_32px_full": rounding}, f, indent=2)
    print(f"| job | 1 process img/s | {ranks} ranks img/s | overhead | all-reduce ms/step "
          "| all-reduce share of an epoch | feature extraction s (1 / ranks) "
          "| max weight difference | val acc (1 / ranks) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        one, many = r["single"], r["distributed"]
        ms = many["allreduce_ms_per_step"]
        epoch_s = r["job"]["batch"] * r["steps_per_epoch"] / many["train_images_per_s"]
        share = f"{100 * ms / 1000 * r['steps_per_epoch'] / epoch_s:.0f}%" if ms else "n/a"
        extraction = (f"{one['extraction_s']} / {many['extraction_s']}"
                      if one["extraction_s"] is not None else "n/a")
        print(f"| {r['job']['name']} | {one['train_images_per_s']:.0f} | "
              f"{many['train_images_per_s']:.0f} | "
              f"{one['train_images_per_s'] / many['train_images_per_s']:.2f}x | "
              f"{ms if ms is not None else 'n/a'} | {share} | {extraction} | "
              f"{r['max_weight_difference']:.1e} | "
              f"{one['val_acc']:.3f} / {many['val_acc']:.3f} |")
    print(f"\nRounding floor, 32px_full in one process, 1 thread against {os.cpu_count()}: "
          f"max weight difference {rounding:.1e}")


if __name__ == "__main__":
    main()
