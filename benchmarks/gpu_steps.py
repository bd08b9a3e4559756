"""The Python steps of the GPU check (benchmarks/gpu_check.sh runs each in its own process and
time box; README.md "GPU check"). Read gpu_throughput.py next.

    python -m benchmarks.gpu_steps has-gpu            exit 0 with a usable CUDA GPU, else 1
    python -m benchmarks.gpu_steps info OUT           versions -> OUT/info.json
    python -m benchmarks.gpu_steps syncs OUT [--device cuda] [--steps 100]
    python -m benchmarks.gpu_steps throughput OUT [--rounds 5] [--steps 10]
    python -m benchmarks.gpu_steps nccl OUT
    python -m benchmarks.gpu_steps report OUT         OUT/steps.tsv + fragments -> OUT/report.md

A step that needs a GPU and finds none prints "skipped: no CUDA GPU" and exits with SKIP (77).
Each step writes a Markdown fragment OUT/<step>.md that the report quotes.
"""

import argparse
import collections
import json
import platform
import sys
import traceback
from pathlib import Path

import numpy as np

import minigrad
import minigrad.distributed as dist
import minigrad.functional as F
from benchmarks import gpu_throughput
from benchmarks.timing import torch_or_none
from minigrad import backend
from minigrad.nn import parallel

SKIP = 77
NO_GPU = "skipped: no CUDA GPU"
MIB = 2**20


def _write(out, name, text):
    Path(out, name).write_text(text)
    print(text, flush=True)


def _skip_without_gpu(out, name, device="cuda"):
    """Write the skip line and exit SKIP when `device` is a GPU that is not usable."""
    if device.startswith("cuda") and not backend.cuda_available():
        _write(out, f"{name}.md", f"{NO_GPU}\n")
        sys.exit(SKIP)


# --------------------------------------------------------------------------- versions


def _torch_info():
    try:
        import torch
    except ImportError:
        return {"torch": "not installed"}
    info = {"torch": torch.__version__, "torch CUDA": str(torch.version.cuda)}
    if torch.cuda.is_available():
        info["torch device"] = torch.cuda.get_device_name(0)
    return info


def info(out):
    """Python, NumPy, array-api-compat, CuPy, CUDA driver/runtime and PyTorch versions."""
    import array_api_compat

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    versions["array-api-compat"] = array_api_compat.__version__
    versions["minigrad"] = minigrad.__version__
    if backend.cuda_available():
        versions.update(backend.cuda_versions())
    else:
        versions["device"] = f"none ({NO_GPU})"
    versions.update(_torch_info())
    Path(out, "info.json").write_text(json.dumps(versions, indent=1) + "\n")
    print(json.dumps(versions, indent=1))
    print(", ".join(f"{key} {value}" for key, value in versions.items()))


# --------------------------------------------------------------------------- host reads, memory


def count_host_reads(step, steps, memory=None):
    """(backend.to_host calls of each step, {caller "file:line function": calls},
    memory() after each step): every step reads its loss once, as a training loop does, so
    1 call a step means no hidden transfer."""
    original = backend.to_host
    calls = [0]
    callers = collections.Counter()

    def counting(a):
        calls[0] += 1
        caller = traceback.extract_stack(limit=2)[0]
        callers[f"{Path(caller.filename).name}:{caller.lineno} {caller.name}"] += 1
        return original(a)

    counts, used = [], []
    backend.to_host = counting
    try:
        for _ in range(steps):
            calls[0] = 0
            loss = step()
            backend.to_host(loss.data)
            counts.append(calls[0])
            if memory is not None:
                used.append(memory())
    finally:
        backend.to_host = original
    return counts, callers, used


def syncs(out, device="cuda", steps=100, batch=128):
    """Host reads per train step of the main example's model, and CuPy's pool over `steps`."""
    _skip_without_gpu(out, "syncs", device)
    step = gpu_throughput.minigrad_step("mnist", batch, device)
    memory = backend.cuda_memory_used if device.startswith("cuda") else None
    counts, callers, used = count_host_reads(step, steps, memory)
    extra = sorted({c for c in counts if c != 1})
    lines = [f"train step of examples/train_mnist.py make_model, batch {batch}, on {device}:"]
    lines.append(
        f"- backend.to_host calls per step, the loss read included: {min(counts)}..{max(counts)}"
        f" over {steps} steps ({'only the loss' if not extra else f'EXTRA reads: {extra}'})"
    )
    lines += [f"  - {count} calls from {where}" for where, count in callers.most_common()]
    flat = True
    if used:
        first, last, peak = used[0], used[-1], max(used)
        flat = last - first <= max(MIB, first // 100)
        lines.append(
            f"- CuPy pool used bytes after step 1 / {steps} / max: {first / MIB:.1f} / "
            f"{last / MIB:.1f} / {peak / MIB:.1f} MiB ({'flat' if flat else 'GROWING'})"
        )
    else:
        lines.append(f"- memory pool: not measured on {device} (CuPy only)")
    _write(out, "syncs.md", "\n".join(lines) + "\n")
    return 0 if not extra and flat else 1


# --------------------------------------------------------------------------- throughput


def throughput(out, rounds=5, steps=10, device="cuda", torch_device="cuda", scale=1):
    """The Markdown table of gpu_throughput.measure; exit 1 when a target is missed."""
    _skip_without_gpu(out, "throughput", device)
    if torch_device.startswith("cuda"):
        torch = gpu_throughput.cuda_torch()
    else:
        torch = torch_or_none()  # a dry run on the CPU
    results = gpu_throughput.measure(device, torch, torch_device, rounds, steps, scale)
    table = gpu_throughput.markdown(results, device)
    note = "" if torch is not None else "PyTorch with CUDA not available: its column is empty\n"
    _write(out, "throughput.md", table + note)
    return 0 if gpu_throughput.targets_met(results) else 1


# --------------------------------------------------------------------------- NCCL


def _same(before, after, rtol=0.0):
    """Equal arrays (rtol=0), or equal to rtol where float sums may run in another order."""
    return all(np.allclose(a, b, rtol=rtol, atol=0.0) for a, b in zip(before, after))


def _grads_of_a_step(model, device):
    """The parameters' gradients after one forward and backward on a fixed batch; reseeded so
    that dropout draws the same mask each time."""
    x, y = gpu_throughput.batch_of("mnist", 8)
    minigrad.seed(3)
    model.zero_grad()
    out = model(minigrad.tensor(x, device=device))
    F.cross_entropy(out, minigrad.tensor(y, device=device)).backward()
    return [np.array(backend.to_host(p.grad)) for p in model.parameters()]  # copies


def _nccl_direct(device):
    """backend.nccl_* on a 1-rank world: sum, avg and max leave the array as it was."""
    comm = backend.nccl_communicator(lambda raw: raw, 0, 1)
    a = backend.to_device(np.linspace(-2, 3, 1000, dtype=np.float32), device)
    before = backend.to_host(a).copy()
    for op in ("sum", "avg", "max"):
        backend.nccl_all_reduce(comm, a, op, 1)
    backend.cuda_synchronize(device)
    return comm, _same([before], [backend.to_host(a)])


def _nccl_buckets(comm, device):
    """DDP's flat buckets of a model's device gradients, packed, reduced by NCCL over 1 rank
    and unpacked: every gradient unchanged. (DDP itself skips communication in a world of 1,
    so its bucket helpers are driven here directly.)"""
    model = gpu_throughput.load_example("train_mnist").make_model().to(device)
    before = _grads_of_a_step(model, device)
    params = list(model.parameters())
    buckets = parallel._make_buckets(params, 25 * MIB)
    for bucket in buckets:
        backend.nccl_all_reduce(comm, bucket.pack(), "avg", 1)
        bucket.unpack()
    after = [backend.to_host(p.grad) for p in params]
    return len(buckets), _same(before, after)


def _nccl_process_group(device):
    """init_process_group("nccl") started alone: a world of 1; all_reduce of a device Tensor
    and a DDP step leave values unchanged."""
    dist.init_process_group("nccl")
    try:
        size = dist.get_world_size()
        t = minigrad.tensor(np.arange(6, dtype=np.float32), device=device)
        dist.all_reduce(t, "sum")
        reduced = np.array_equal(backend.to_host(t.data), np.arange(6))
        model = gpu_throughput.load_example("train_mnist").make_model().to(device)
        plain = _grads_of_a_step(model, device)
        wrapped = parallel.DistributedDataParallel(model)
        # rtol: CuPy's scatter-adds (atomics) may sum in another order from call to call
        return size, reduced, _same(plain, _grads_of_a_step(wrapped, device), rtol=1e-5)
    finally:
        dist.destroy_process_group()


def nccl(out, device="cuda"):
    _skip_without_gpu(out, "nccl", device)
    lines = []
    comm, same = _nccl_direct(device)
    lines.append(f"- backend.nccl_all_reduce, 1 rank, sum/avg/max: unchanged = {same}")
    count, unchanged = _nccl_buckets(comm, device)
    lines.append(f"- DDP buckets ({count}) packed, NCCL avg, unpacked: unchanged = {unchanged}")
    ok = same and unchanged
    Path(out, "nccl.md").write_text("\n".join(lines) + "\n")  # kept if MPI below aborts
    try:
        size, reduced, ddp_same = _nccl_process_group(device)
        lines.append(
            f"- init_process_group('nccl') alone: world size {size}; all_reduce unchanged = "
            f"{reduced}; DDP grads equal the plain model's = {ddp_same}"
        )
        ok = ok and size == 1 and reduced and ddp_same
    except Exception as e:  # mpi4py without an MPI library: report it, keep the rest
        lines.append(f"- init_process_group('nccl') FAILED: {type(e).__name__}: {e}")
        ok = False
    _write(out, "nccl.md", "\n".join(lines) + "\n")
    return 0 if ok else 1


# --------------------------------------------------------------------------- the report

FRAGMENTS = (("syncs", "3. Host reads and memory"), ("throughput", "4. Throughput"))
FRAGMENTS += (("nccl", "5. NCCL"),)


def _steps(out):
    """Rows of OUT/steps.tsv: number, name, result, seconds, log, note (gpu_check.sh)."""
    path = Path(out, "steps.tsv")
    if not path.exists():
        return []
    rows = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda row: row[0])  # 0a, 0b, 1, ..., 5: the run order differs


def report(out):
    """OUT/report.md: versions, each step's result and time, then the steps' fragments."""
    lines = ["# GPU check", ""]
    info_path = Path(out, "info.json")
    versions = json.loads(info_path.read_text()) if info_path.exists() else {}
    lines += ["| | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in versions.items()]
    lines += ["", "| step | result | seconds | log | note |", "| --- | --- | ---: | --- | --- |"]
    for number, name, result, seconds, log, note in _steps(out):
        lines.append(f"| {number}. {name} | {result} | {seconds} | {log} | {note} |")
    for name, title in FRAGMENTS:
        fragment = Path(out, f"{name}.md")
        if fragment.exists():
            lines += ["", f"## {title}", "", fragment.read_text().rstrip()]
    Path(out, "report.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {Path(out, 'report.md')}")


# --------------------------------------------------------------------------- command line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step", choices=("has-gpu", "info", "syncs", "throughput", "nccl", "report")
    )
    parser.add_argument("out", nargs="?", default=".", help="the output folder")
    parser.add_argument("--device", default="cuda", help="minigrad's device (cpu: a dry run)")
    parser.add_argument("--torch-device", default="cuda")
    parser.add_argument("--steps", type=int, default=None, help="steps (syncs) or per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=int, default=1, help="divide every batch by this")
    args = parser.parse_args(argv)
    if args.step == "has-gpu":
        return 0 if backend.cuda_available() else 1
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.step == "info":
        return info(args.out)
    if args.step == "syncs":
        return syncs(args.out, args.device, args.steps or 100, max(2, 128 // args.scale))
    if args.step == "throughput":
        steps = args.steps or 10
        return throughput(args.out, args.rounds, steps, args.device, args.torch_device, args.scale)
    if args.step == "nccl":
        return nccl(args.out, args.device)
    return report(args.out)


if __name__ == "__main__":
    sys.exit(main())
