"""Data parallelism on one machine: train-step throughput of the examples' models in minigrad
with 1 process and with N ranks (DistributedDataParallel over MPI), against PyTorch in one
process, interleaved. Read run.py first; `python -m benchmarks --only ddp` runs this.

    python -m benchmarks.ddp [--ranks 2] [--rounds 5] [--steps 10]

Every round starts a fresh process per contender, in turn (so a slow spell of the shared
machine hits all of them): each does 3 warm-up steps, then times --steps train steps with Adam
on a fixed random global batch of 128 (each rank its 128/N share). Throughput is the global
batch over the median step time of rank 0 (ranks move in lockstep: every step ends with the
gradient all_reduce). "comm" is the share of the step spent inside DDP's all_reduce calls,
waiting for the slower rank included. "N processes, no communication" runs the same N
processes on the same shares without DDP: the most N ranks could gain on this machine.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

from benchmarks.memory import ROOT

MODELS = {
    "mnist": ("train_mnist", "examples/train_mnist.py make_model"),
    "mnist-syncbn": ("train_mnist", "the same with SyncBatchNorm"),
    "cifar": ("train_cifar10", "examples/train_cifar10.py make_model"),
}
GLOBAL_BATCH = 128

WORKER = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
model_name, framework, steps = sys.argv[2], sys.argv[3], int(sys.argv[4])
independent = framework == "minigrad-independent"  # the ranks' shares, no DDP: the ceiling
from benchmarks.epoch import load_example
from benchmarks.ddp import MODELS, GLOBAL_BATCH
example = load_example(MODELS[model_name][0])
rng = np.random.default_rng(0)
side, channels = (32, 3) if model_name == "cifar" else (28, 1)
x = rng.standard_normal((GLOBAL_BATCH, channels, side, side)).astype(np.float32)
y = rng.integers(0, 10, GLOBAL_BATCH)
if framework == "pytorch":
    import torch
    torch.set_num_threads(int(sys.argv[5]))
    model = example.make_model(nn=torch.nn)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xb, yb = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn, ddp, rank = torch.nn.functional.cross_entropy, None, 0
else:
    import minigrad as mg
    import minigrad.distributed as dist
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = example.make_model()
    if model_name == "mnist-syncbn":
        model = mg.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    wrap = world > 1 and not independent
    ddp = mg.nn.parallel.DistributedDataParallel(model) if wrap else None
    model = ddp or model
    optimizer = mg.optim.Adam(model.parameters(), lr=1e-3)
    share = GLOBAL_BATCH // world
    xb = mg.tensor(x[rank * share : (rank + 1) * share])
    yb = mg.tensor(y[rank * share : (rank + 1) * share])
    loss_fn = mg.functional.cross_entropy
def step():
    optimizer.zero_grad()
    loss_fn(model(xb), yb).backward()
    optimizer.step()
for _ in range(3):
    step()
if ddp is not None:
    ddp.comm_seconds = 0.0
times = []
for _ in range(steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
if rank == 0:
    comm = ddp.comm_seconds / sum(times) if ddp is not None else None
    print(json.dumps({"times": times, "comm": comm}))
"""


def run_worker(model, framework, steps, ranks=1, torch_threads=2):
    """{"times": seconds per step, "comm": share of the step in all_reduce or None}."""
    command = [sys.executable, "-c", WORKER, str(ROOT), model, framework, str(steps)]
    command.append(str(torch_threads))
    if ranks > 1:
        command = [shutil.which("mpiexec"), "-n", str(ranks), *command]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def contenders(ranks, torch_available):
    """name -> (framework, ranks) of this benchmark's columns."""
    columns = {"minigrad 1 process": ("minigrad", 1)}
    if shutil.which("mpiexec") is not None:
        columns[f"minigrad {ranks} ranks"] = ("minigrad", ranks)
        columns[f"{ranks} processes, no communication"] = ("minigrad-independent", ranks)
    if torch_available:
        columns["PyTorch 1 process"] = ("pytorch", 1)
    return columns


def measure(model, ranks=2, rounds=5, steps=10, torch_available=True, torch_threads=2):
    """{column: (images per second, median comm share or None)} for one model."""
    columns = contenders(ranks, torch_available)
    times = {name: [] for name in columns}
    comms = {name: [] for name in columns}
    for _ in range(rounds):
        for name, (framework, n) in columns.items():
            result = run_worker(model, framework, steps, n, torch_threads)
            times[name] += result["times"]
            if result["comm"] is not None:
                comms[name].append(result["comm"])
    return {
        name: (
            GLOBAL_BATCH / statistics.median(times[name]),
            statistics.median(comms[name]) if comms[name] else None,
        )
        for name in columns
    }


def _cell(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def format_results(results, ranks):
    """A Markdown table: img/s per column, the scaling, the ratio against PyTorch, and the
    ceiling: N processes training their shares with no communication (what N ranks would
    reach if DDP cost nothing), and its ratio to 1 process."""
    single, multi, torch = "minigrad 1 process", f"minigrad {ranks} ranks", "PyTorch 1 process"
    alone = f"{ranks} processes, no communication"
    lines = [
        f"| model | {single} | {multi} | {torch} | {ranks} ranks / 1 | {ranks} ranks / PT "
        f"| comm | {alone} | its ratio to 1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, columns in results.items():
        speed = {name: columns.get(name, (None, None))[0] for name in (single, multi, torch, alone)}
        comm = columns.get(multi, (None, None))[1]
        scale = speed[multi] / speed[single] if speed[multi] else None
        versus = speed[multi] / speed[torch] if speed[multi] and speed[torch] else None
        ceiling = speed[alone] / speed[single] if speed[alone] else None
        cells = [MODELS[model][1], *(_cell(speed[n]) for n in (single, multi, torch))]
        cells += [_cell(scale, 2), _cell(versus, 2), "-" if comm is None else f"{comm:.1%}"]
        cells += [_cell(speed[alone]), _cell(ceiling, 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def torch_installed():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["mnist", "cifar"])
    parser.add_argument("--torch-threads", type=int, default=2)
    args = parser.parse_args(argv)
    if shutil.which("mpiexec") is None:
        print('mpiexec not found: pip install -e ".[distributed]" (only 1 process measured)')
    results = {}
    for model in args.models:
        results[model] = measure(
            model, args.ranks, args.rounds, args.steps, torch_installed(), args.torch_threads
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"global batch {GLOBAL_BATCH}, Adam, float32; 1-min load average {load:.2f}")
    print(format_results(results, args.ranks))


if __name__ == "__main__":
    main()
