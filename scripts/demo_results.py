#!/usr/bin/env python3
"""Prints the demo's comparison table and writes OUTDIR/results.json (standard library only).

results.json: {"pretrain" | "pretrained_full" | "pretrained_frozen" | "scratch":
                   {"accuracy", "macro_f1", "train_seconds"}}
"pretrain" is scored on the source task's val images (classes 0-4), the three others on the
target task's test images (classes 5-9); each from its run's eval.json (ftl evaluate).
"""
import json
import os
import sys

RUNS = [("pretrained_full", "pretrained, fully fine-tuned"),
        ("pretrained_frozen", "pretrained, frozen backbone"),
        ("scratch", "random weights (no pretraining)")]


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    out = sys.argv[1]
    results = {}
    for name in ["pretrain"] + [name for name, _ in RUNS]:
        with open(os.path.join(out, name, "eval.json")) as f:
            report = json.load(f)
        seconds = sum(m["seconds"] for m in read_metrics(os.path.join(out, name)))
        results[name] = {"accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"],
                         "train_seconds": round(seconds, 1)}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")

    print(f"source task (classes 0-4): val accuracy {results['pretrain']['accuracy']:.4f}, "
          f"macro F1 {results['pretrain']['macro_f1']:.4f}, "
          f"after {results['pretrain']['train_seconds']:.0f} s of pretraining")
    print("target task (classes 5-9, 100 training images per class, 5,000 test images):")
    print(f"| {'run':34} | {'accuracy':>8} | {'macro F1':>8} | {'train s':>7} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|{'-' * 9}|")
    for name, label in RUNS:
        r = results[name]
        print(f"| {label:34} | {r['accuracy']:8.4f} | {r['macro_f1']:8.4f} | "
              f"{r['train_seconds']:7.1f} |")
    print(f"wrote {os.path.join(out, 'results.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
