"""Fit a line and a tiny two-layer network with raw Tensor ops, printing gradients on the way.

Expected: the line converges to w ~ 3.0, b ~ -1.0 and the network reaches a loss < 0.01,
in about a second on a CPU.   Run: python examples/autograd_basics.py [--device strict]
"""

import argparse
import time

import numpy as np

import minigrad as mg


def fit_line(device):
    """y = 3x - 1 plus noise; gradient descent by hand on w and b."""
    rng = np.random.default_rng(0)
    x_host = rng.uniform(-1, 1, (256, 1)).astype(np.float32)
    y_host = 3 * x_host - 1 + 0.05 * rng.standard_normal((256, 1)).astype(np.float32)
    x, y = mg.tensor(x_host, device=device), mg.tensor(y_host, device=device)
    w = mg.zeros(1, 1, device=device, requires_grad=True)
    b = mg.zeros(1, device=device, requires_grad=True)
    for step in range(200):
        loss = ((x @ w + b - y) ** 2).mean()
        w.grad = b.grad = None
        loss.backward()
        if step == 0:
            # .grad is a plain backend array (NumPy on cpu); to_host copies it for printing
            dw, db = mg.backend.to_host(w.grad), mg.backend.to_host(b.grad)
            print(f"step 0: loss {loss.item():.3f}, dL/dw {dw.ravel()}, dL/db {db}")
        with mg.no_grad():
            w.data = w.data - 0.1 * w.grad
            b.data = b.data - 0.1 * b.grad
    print(f"line: w = {w.item():.3f}, b = {b.item():.3f}, loss {loss.item():.4f}")
    return w.item(), b.item()


def fit_network(device):
    """A 1-32-1 tanh network fitted to sin(3x) with plain SGD written out."""
    mg.seed(0)
    x = mg.tensor(np.linspace(-1, 1, 128, dtype=np.float32)[:, None], device=device)
    y = (x * 3).to("cpu").numpy()
    y = mg.tensor(np.sin(y), device=device)
    w1 = (mg.randn(1, 32, device=device) * 2.0).requires_grad_()
    b1 = mg.zeros(32, device=device, requires_grad=True)
    w2 = (mg.randn(32, 1, device=device) * 0.2).requires_grad_()
    b2 = mg.zeros(1, device=device, requires_grad=True)
    params = [w1, b1, w2, b2]
    for _ in range(3000):
        loss = (((x @ w1 + b1).tanh() @ w2 + b2 - y) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data = p.data - 0.1 * p.grad
    print(f"network: final loss {loss.item():.5f}")
    return loss.item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or strict")
    args = parser.parse_args()
    start = time.perf_counter()
    fit_line(args.device)
    fit_network(args.device)
    print(f"done in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
