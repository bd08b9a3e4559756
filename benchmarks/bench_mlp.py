"""Benchmark: one training step (forward, backward, SGD update) of the MLP 784-512-512-10 at
batch 128, float32: minigrad vs a hand-written NumPy version of the same math vs PyTorch CPU
(2 threads), alternating in one run. The minigrad / NumPy ratio is the engine's overhead.

Run: python benchmarks/bench_mlp.py [--quick]   (the suite, python -m benchmarks, imports it)
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402
from benchmarks.timing import alternate, report, torch_or_none  # noqa: E402

SIZES = (784, 512, 512, 10)
BATCH = 128
LR = 0.01


def init_weights(seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        layers.append((w, b))
    return layers


def numpy_forward(layers, x):
    """Every layer's output, input first: [x, relu(x W1^T + b1), ..., logits]."""
    acts = [x]
    for i, (w, b) in enumerate(layers):
        z = acts[-1] @ w.T + b
        acts.append(np.maximum(z, 0) if i < len(layers) - 1 else z)
    return acts


def numpy_step(layers, x, y):
    """Reference: the same step written directly in NumPy (no autograd)."""
    acts = numpy_forward(layers, x)
    logits = acts[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    dout = probs
    dout[np.arange(len(y)), y] -= 1
    dout /= len(y)
    for i in range(len(layers) - 1, -1, -1):
        w, b = layers[i]
        dw = dout.T @ acts[i]
        db = dout.sum(axis=0)
        if i > 0:
            dout = (dout @ w) * (acts[i] > 0)
        w -= LR * dw
        b -= LR * db


def minigrad_forward(params, x):
    h = x
    for i, (w, b) in enumerate(params):
        h = F.linear(h, w, b)
        if i < len(params) - 1:
            h = F.relu(h)
    return h


def minigrad_params(layers, device="cpu"):
    return [
        (
            mg.tensor(w, device=device, requires_grad=True),
            mg.tensor(b, device=device, requires_grad=True),
        )
        for w, b in layers
    ]


def minigrad_inference(layers, x):
    params = minigrad_params(layers)
    xt = mg.tensor(x)

    def infer():
        with mg.no_grad():
            minigrad_forward(params, xt)

    return infer


def minigrad_setup(layers, x, y, device="cpu"):
    params = minigrad_params(layers, device)
    xt, yt = mg.tensor(x, device=device), mg.tensor(y, device=device)

    def step():
        loss = F.cross_entropy(minigrad_forward(params, xt), yt)
        for w, b in params:
            w.grad = b.grad = None
        loss.backward()
        for w, b in params:
            w.data -= LR * w.grad
            b.data -= LR * b.grad

    return step


def torch_net(torch, layers):
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    with torch.no_grad():
        for layer, (w, b) in zip(net[::2], layers):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return net


def torch_inference(torch, layers, x):
    net = torch_net(torch, layers)
    xt = torch.from_numpy(x)

    def infer():
        with torch.no_grad():
            net(xt)

    return infer


def torch_train_step(torch, net, opt, x, y, device="cpu"):
    """One PyTorch train step of `net` on the NumPy batch (x, y) moved to `device`."""
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()

    return step


def torch_setup(torch, layers, x, y, device="cpu"):
    net = torch_net(torch, layers).to(device)
    return torch_train_step(torch, net, torch.optim.SGD(net.parameters(), lr=LR), x, y, device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    contenders = {
        "numpy (hand-written)": lambda: numpy_step(numpy_layers, x, y),
        "minigrad": minigrad_setup(init_weights(), x, y),
    }
    numpy_layers = init_weights()
    torch = torch_or_none()
    if torch is not None:
        contenders["pytorch"] = torch_setup(torch, init_weights(), x, y)
    repeats = 3 if args.quick else 15
    seconds = alternate(contenders, repeats=repeats, warmup=2, inner=5)
    report("MLP 784-512-512-10 train step, batch 128", seconds, "numpy (hand-written)", BATCH)
    if torch is not None:
        print(f"  minigrad / pytorch throughput: {seconds['pytorch'] / seconds['minigrad']:.2f}x")
    print(
        f"  engine overhead over NumPy: "
        f"{seconds['minigrad'] / seconds['numpy (hand-written)'] - 1:+.1%}"
    )


if __name__ == "__main__":
    main()
