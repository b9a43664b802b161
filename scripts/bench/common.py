"""What the benchmark scripts share: timed commands and the seed runs of common.sh."""
import json
import os
import statistics
import subprocess
import sys
import time


def log(message):
    print(message, file=sys.stderr, flush=True)


def timed(command, log_path):
    """Runs command; returns (wall seconds, peak RSS in MiB of the largest process)."""
    start = time.perf_counter()
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed ({log_path}): {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024


def spread(values):
    """'mean (min-max)' of the seeds' values, to 4 places."""
    return f"{statistics.mean(values):.4f} ({min(values):.4f}-{max(values):.4f})"


def seed_folders(work, name):
    """The seed folders that demo_seed_runs (common.sh) wrote under WORK/NAME."""
    return [os.path.join(work, name, run) for run in sorted(os.listdir(os.path.join(work, name)))]


def seed_accuracies(folders, tta):
    """Each seed's test accuracy, evaluated without (tta "none") or with ("flip") TTA."""
    accuracies = []
    for folder in folders:
        with open(os.path.join(folder, f"eval_{tta}.json")) as f:
            accuracies.append(json.load(f)["accuracy"])
    return accuracies


def epoch_records(folder):
    """The run's metrics.jsonl, one dict per epoch."""
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]
