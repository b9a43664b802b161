#!/usr/bin/env python3
"""Prints the demo's comparison table and writes OUTDIR/results.json (standard library only).

usage: demo_results.py OUTDIR [ARCH]   (ARCH: the network, resnet18 unless given)

results.json: {"arch": ARCH, "pretrain": {"accuracy", "macro_f1", "train_seconds"},
               "pretrained_full" | "pretrained_frozen" | "scratch":
                   {"accuracy", "accuracy_min", "accuracy_max", "macro_f1", "train_seconds",
                    "seeds": [{"seed", "accuracy", "macro_f1", "train_seconds"}, ...]}}
"pretrain" is scored on the source task's val images (classes 0-4), the three others on the
target task's test images (classes 5-9), each the mean over its seeds (train.seed 0 in
OUTDIR/<run>, 1 and 2 in OUTDIR/seeds/<run>_seedN); each from its run's eval.json.
"""
import json
import os
import statistics
import sys

RUNS = [("pretrained_full", "pretrained, fully fine-tuned"),
        ("pretrained_frozen", "pretrained, frozen backbone"),
        ("scratch", "random weights (no pretraining)")]
SEEDS = [0, 1, 2]


def scored(run_dir):
    """accuracy, macro F1 and training seconds of one run."""
    with open(os.path.join(run_dir, "eval.json")) as f:
        report = json.load(f)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        seconds = sum(json.loads(line)["seconds"] for line in f if line.strip())
    return {"accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"],
            "train_seconds": round(seconds, 1)}


def seed_dir(out, name, seed):
    return os.path.join(out, name) if seed == 0 else os.path.join(out, "seeds", f"{name}_seed{seed}")


def main():
    out = sys.argv[1]
    arch = sys.argv[2] if len(sys.argv) > 2 else "resnet18"
    results = {"arch": arch, "pretrain": scored(os.path.join(out, "pretrain"))}
    for name, _ in RUNS:
        seeds = [dict(seed=seed, **scored(seed_dir(out, name, seed))) for seed in SEEDS]
        accuracies = [s["accuracy"] for s in seeds]
        results[name] = {
            "accuracy": statistics.mean(accuracies),
            "accuracy_min": min(accuracies), "accuracy_max": max(accuracies),
            "macro_f1": statistics.mean(s["macro_f1"] for s in seeds),
            "train_seconds": round(statistics.mean(s["train_seconds"] for s in seeds), 1),
            "seeds": seeds}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")

    print(f"{arch}, source task (classes 0-4): val accuracy {results['pretrain']['accuracy']:.4f}, "
          f"macro F1 {results['pretrain']['macro_f1']:.4f}, "
          f"after {results['pretrain']['train_seconds']:.0f} s of pretraining")
    print("target task (classes 5-9, 100 training images per class, 5,000 test images), "
          f"train.seed {', '.join(map(str, SEEDS))}:")
    print(f"| {'run':34} | {'accuracy, mean (min-max)':24} | {'macro F1':>8} | {'train s':>7} |")
    print(f"|{'-' * 36}|{'-' * 26}|{'-' * 10}|{'-' * 9}|")
    for name, label in RUNS:
        r = results[name]
        spread = f"{r['accuracy']:.4f} ({r['accuracy_min']:.4f}-{r['accuracy_max']:.4f})"
        print(f"| {label:34} | {spread:24} | {r['macro_f1']:8.4f} | {r['train_seconds']:7.1f} |")
    print(f"wrote {os.path.join(out, 'results.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
