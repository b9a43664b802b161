"""What scripts/bench.py and scripts/bench_short_runs.py share: running a timed command."""
import os
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
