"""Train-step throughput on one GPU: minigrad (CuPy) against PyTorch CUDA in the same run,
interleaved round by round, plus minigrad on the CPU for the CIFAR model. Read gpu_steps.py
first (it runs this as `python -m benchmarks.gpu_steps throughput`).

Targets: minigrad CUDA >= 0.5x PyTorch CUDA; the CIFAR model >= 10x minigrad's own CPU.
Every timed call ends with a device synchronisation, so the clock reads finished work. PyTorch
runs with TF32 off (cuDNN and matmul), as CuPy does unless CUPY_TF32=1: float32 against float32.
"""

import numpy as np

import minigrad as mg
import minigrad.functional as F
from benchmarks import bench_mlp, models
from benchmarks.epoch import load_example
from benchmarks.timing import alternate
from minigrad import backend, optim

EXAMPLES = {"mnist": "train_mnist", "cifar": "train_cifar10"}
TITLES = {
    "mnist": "examples/train_mnist.py make_model",
    "cifar": "examples/train_cifar10.py make_model",
    "mlp": "MLP 784-512-512-10 (bench_mlp.py, SGD)",
}
CASES = (("mnist", 128), ("mnist", 512), ("cifar", 128), ("mlp", 128))
TARGET_VS_TORCH = 0.5
TARGET_VS_CPU = 10.0


def batch_of(name, batch):
    """The fixed random batch (x, y) a model trains on, as NumPy arrays."""
    if name == "cifar":
        return models.cifar_batch(batch=batch)
    if name == "mnist":
        return models.cnn_batch(batch=batch)
    rng = np.random.default_rng(1)
    return rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch)


def minigrad_step(name, batch, device):
    """A train step on `device`: forward, cross-entropy, backward, Adam (SGD for the MLP);
    the examples' step returns its loss Tensor. The model is built on cpu from seed 0 and
    moved, as a user would."""
    x, y = batch_of(name, batch)
    if name == "mlp":
        return bench_mlp.minigrad_setup(bench_mlp.init_weights(), x, y, device)
    mg.seed(0)
    model = load_example(EXAMPLES[name]).make_model().to(device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = mg.tensor(x, device=device), mg.tensor(y, device=device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step


def torch_step(torch, name, batch, device):
    """The same step in PyTorch on `device` ("cuda" or "cpu")."""
    x, y = batch_of(name, batch)
    if name == "mlp":
        return bench_mlp.torch_setup(torch, bench_mlp.init_weights(), x, y, device)
    model = load_example(EXAMPLES[name]).make_model(nn=torch.nn).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return bench_mlp.torch_train_step(torch, model, opt, x, y, device)


def synced(step, synchronize):
    """`step` followed by `synchronize()` (None: nothing to wait for)."""
    if synchronize is None:
        return step

    def call():
        step()
        synchronize()

    return call


def cuda_torch():
    """PyTorch with a usable GPU and TF32 off, or None."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def measure(device="cuda", torch=None, torch_device="cuda", rounds=5, steps=10, scale=1):
    """[(name, batch, minigrad img/s, PyTorch img/s or None, minigrad CPU img/s or None)].

    `scale` divides every batch (a dry run on the CPU uses small ones)."""
    sync = (lambda: backend.cuda_synchronize(device)) if device.startswith("cuda") else None
    torch_sync = None
    if torch is not None and torch_device.startswith("cuda"):
        torch_sync = torch.cuda.synchronize
    results = []
    for name, full_batch in CASES:
        batch = max(2, full_batch // scale)
        contenders = {"minigrad": synced(minigrad_step(name, batch, device), sync)}
        if torch is not None:
            their = torch_step(torch, name, batch, torch_device)
            contenders["pytorch"] = synced(their, torch_sync)
        seconds = alternate(contenders, repeats=rounds, warmup=min(2, rounds), inner=steps)
        theirs = batch / seconds["pytorch"] if "pytorch" in seconds else None
        cpu = None
        if name == "cifar":
            cpu_step = minigrad_step(name, batch, "cpu")
            cpu = batch / alternate({"cpu": cpu_step}, repeats=3, warmup=1, inner=2)["cpu"]
        results.append((name, batch, batch / seconds["minigrad"], theirs, cpu))
        print(f"{name} batch {batch}: {results[-1][2]:,.0f} img/s", flush=True)
    return results


def _cell(value, digits=0, suffix=""):
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def markdown(results, device="cuda"):
    """The throughput table, with each ratio against its target."""
    lines = [
        f"| model | batch | minigrad {device} img/s | PyTorch img/s | mg/PT "
        f"(target >= {TARGET_VS_TORCH}) | minigrad CPU img/s | {device}/CPU "
        f"(target >= {TARGET_VS_CPU:.0f}) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, batch, ours, theirs, cpu in results:
        vs_torch = None if theirs is None else ours / theirs
        vs_cpu = None if cpu is None else ours / cpu
        cells = [TITLES[name], str(batch), _cell(ours), _cell(theirs), _cell(vs_torch, 2)]
        cells += [_cell(cpu), _cell(vs_cpu, 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def targets_met(results):
    """True when every ratio that was measured meets its target."""
    for _, _, ours, theirs, cpu in results:
        if theirs is not None and ours / theirs < TARGET_VS_TORCH:
            return False
        if cpu is not None and ours / cpu < TARGET_VS_CPU:
            return False
    return True
