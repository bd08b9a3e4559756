"""Benchmark: DataLoader throughput on Fashion-MNIST-sized data, batch 128, with and without
shuffle and augmentation. Run `PYTHONPATH=. python benchmarks/bench_loader.py [--device cpu]`.

The loader must cost well under 5% of a training step: a CNN step on batch 128 takes ~80 ms
on the 2-core reference machine, so one batch should load in < 4 ms.
"""

import argparse
import time

import numpy as np

from minigrad.data import DataLoader, FashionMNIST, TensorDataset
from minigrad.data.transforms import Compose, RandomCrop, RandomHorizontalFlip


def _batches_per_second(loader, epochs):
    """Batches per second over `epochs` full passes (after one warm-up pass)."""
    for _ in loader:
        pass
    start = time.perf_counter()
    batches = 0
    for _ in range(epochs):
        for _ in loader:
            batches += 1
    return batches / (time.perf_counter() - start)


def _cases(batch_size, device):
    """(name, loader) pairs: random float32 arrays, then the real files when present."""
    rng = np.random.default_rng(0)
    x = rng.random((60000, 1, 28, 28), dtype=np.float32)
    arrays = TensorDataset(x, rng.integers(0, 10, size=60000))
    augment = Compose([RandomCrop(28, padding=2), RandomHorizontalFlip(0.5)])
    common = dict(batch_size=batch_size, device=device)
    cases = [
        ("float32 arrays, sequential", DataLoader(arrays, **common)),
        ("float32 arrays, shuffle", DataLoader(arrays, shuffle=True, seed=0, **common)),
        (
            "float32, shuffle + crop + flip",
            DataLoader(arrays, shuffle=True, transform=augment, **common),
        ),
    ]
    try:
        fashion = FashionMNIST()
    except FileNotFoundError:
        return cases
    loader = DataLoader(fashion, shuffle=True, seed=0, **common)
    cases.append(("FashionMNIST uint8, shuffle", loader))
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"device={args.device} batch_size={args.batch_size} samples=60000")
    for name, loader in _cases(args.batch_size, args.device):
        rate = _batches_per_second(loader, args.epochs)
        share = 100 * (1 / rate) / 0.080
        print(
            f"{name:34s} {rate:8.0f} batches/s {1000 / rate:7.3f} ms/batch {share:5.2f}% of 80 ms"
        )


if __name__ == "__main__":
    main()
