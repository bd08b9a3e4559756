"""Peak memory of 20 steps of CNN training, one framework per fresh process, so that no
framework's allocations or imports count against another. Read run.py for the suite.

    python -m benchmarks.memory minigrad|pytorch|numpy [--steps 20]

prints one JSON line: the peak resident set (VmHWM) after the imports, after training, and the
difference in MiB, which is what the suite reports.
"""

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("minigrad", "pytorch", "numpy")


def peak_rss_mib():
    """The process's peak resident set so far: VmHWM from /proc, else ru_maxrss (KiB on Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _import(framework):
    """Import what the framework's training needs; returns its step-closure factory."""
    from benchmarks import models

    if framework == "minigrad":
        import minigrad  # noqa: F401

        def make(x, y):
            return models.minigrad_train_step(models.minigrad_cnn(models.cnn_weights()), x, y)

    elif framework == "pytorch":
        from benchmarks.timing import torch_or_none

        torch = torch_or_none()

        def make(x, y):
            model = models.torch_cnn(torch, models.cnn_weights())
            return models.torch_train_step(torch, model, x, y)

    else:
        from benchmarks.numpy_cnn import NumpyCNN

        def make(x, y):
            net = NumpyCNN(models.cnn_weights())
            return lambda: net.train_step(x, y)

    return make


def measure_here(framework, steps):
    """Run in THIS process: import, note the peak, train `steps` steps, note the peak again."""
    make = _import(framework)
    from benchmarks.models import cnn_batch

    baseline = peak_rss_mib()
    step = make(*cnn_batch())
    for _ in range(steps):
        step()
    peak = peak_rss_mib()
    return {"framework": framework, "baseline_mib": baseline, "peak_mib": peak}


def measure(framework, steps=20):
    """MiB of peak RSS above the post-import baseline, measured in a fresh subprocess."""
    command = [sys.executable, "-m", "benchmarks.memory", framework, "--steps", str(steps)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["peak_mib"] - result["baseline_mib"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=FRAMEWORKS)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    result = measure_here(args.framework, args.steps)
    result["delta_mib"] = result["peak_mib"] - result["baseline_mib"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
