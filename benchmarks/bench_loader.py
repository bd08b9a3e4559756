"""Benchmark: DataLoader throughput on Fashion-MNIST-sized arrays (60000 x 1 x 28 x 28 float32).
Run `python benchmarks/bench_loader.py [--device cpu]`; prints batches/s and ms per batch.

The loader must cost well under 5% of a training step: a CNN step on batch 128 takes ~80 ms
on the 2-core reference machine, so one batch should load in < 4 ms.
"""

import argparse
import time

import numpy as np

from minigrad.data import DataLoader, TensorDataset
from minigrad.data.transforms import RandomCrop, RandomHorizontalFlip


def _epoch_rate(loader, epochs):
    """Batches per second over `epochs` full passes (the first pass warms caches up)."""
    for _ in loader:
        pass
    start = time.perf_counter()
    batches = 0
    for _ in range(epochs):
        for x, y in loader:
            batches += 1
    return batches / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((60000, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=60000)
    data = TensorDataset(x, y)
    cases = {
        "sequential": dict(shuffle=False),
        "shuffle": dict(shuffle=True, seed=0),
        "shuffle + crop(pad 2) + flip": dict(
            shuffle=True, seed=0, transform=_augment(RandomCrop(28, padding=2))
        ),
    }
    print(f"device={args.device} batch_size={args.batch_size} samples={len(data)}")
    for name, options in cases.items():
        loader = DataLoader(data, batch_size=args.batch_size, device=args.device, **options)
        rate = _epoch_rate(loader, args.epochs)
        print(f"{name:32s} {rate:9.0f} batches/s  {1000 / rate:7.3f} ms/batch")


def _augment(crop):
    flip = RandomHorizontalFlip(0.5)
    return lambda x: flip(crop(x))


if __name__ == "__main__":
    main()
