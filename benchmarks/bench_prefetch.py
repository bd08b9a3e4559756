"""Benchmark: what loading ahead (DataLoader num_workers > 0) buys on examples/train_mnist.py's
epoch. Read epoch.py first.

    PYTHONPATH=. python -m benchmarks.bench_prefetch [--limit 12800] [--workers 1] [--augment]

Two copies of the example's model (same weights, Adam) train on Fashion-MNIST side by side: one
fed by the example's loader with num_workers=0, the other by the same loader with
num_workers=W. Their steps are interleaved in blocks of --block (epoch._interleaved_seconds), so a
slow spell of the shared machine hits both; the printed ratio is serial / prefetched time
(> 1: loading ahead pays), and each line gives the time the loop spent waiting in next() for
a batch, the loading left on the critical path. Both first run 3 untimed warm-up steps. A
prefetching loader may prepare up to W * 2 batches while the other contender runs its block,
a bias in its favour; `--workers 0` gives an A/A run that shows the noise.
"""

import argparse
import itertools
import time

from benchmarks.epoch import (
    _example_defaults,
    _interleaved_seconds,
    load_example,
    minigrad_steps,
)


class _Waited:
    """Iterates `loader`, adding up the seconds the training loop waits in next() for a batch:
    the loading that is on the critical path."""

    def __init__(self, loader):
        self.loader = loader
        self.seconds = 0.0

    def __iter__(self):
        batches = iter(self.loader)
        while True:
            start = time.perf_counter()
            batch = next(batches, None)
            self.seconds += time.perf_counter() - start
            if batch is None:
                return
            yield batch


def _loader(example, args, train_set, test_set, workers):
    """The example's own training loader, with `workers` worker threads."""
    from minigrad.data import DataLoader

    train, _ = example.make_loaders(args, train_set, test_set)
    return DataLoader(
        train.dataset,
        train.batch_size,
        shuffle=True,
        num_workers=workers,
        seed=args.seed,
        transform=train.transform,
        device=train.device,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="use only N training images")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--augment", action="store_true", help="the example's --augment")
    parser.add_argument("--rounds", type=int, default=1, help="epochs of each, interleaved")
    parser.add_argument("--block", type=int, default=10, help="steps of one before the other")
    options = parser.parse_args()
    import minigrad as mg
    from minigrad import optim
    from minigrad.data import FashionMNIST

    example = load_example()
    args = _example_defaults(example)
    args.limit, args.augment = options.limit, options.augment
    train_set, test_set = FashionMNIST(train=True), FashionMNIST(train=False)
    mg.seed(0)
    serial_model = example.make_model()
    prefetched_model = example.make_model()
    prefetched_model.load_state_dict(serial_model.state_dict())
    models = {
        "serial, num_workers=0": (serial_model, 0),
        f"ahead, num_workers={options.workers}": (prefetched_model, options.workers),
    }
    totals = dict.fromkeys(models, 0.0)
    waited = dict.fromkeys(models, 0.0)
    optimizers = {name: optim.Adam(m.parameters(), lr=1e-3) for name, (m, _) in models.items()}
    for name, (model, workers) in models.items():  # warm-up: first-step allocations
        warm_up = _loader(example, args, train_set, test_set, workers)
        for _ in itertools.islice(minigrad_steps(model, optimizers[name], warm_up), 3):
            pass
    for r in range(options.rounds):
        epochs, loaders = {}, {}
        for name in list(models)[:: (-1) ** r]:  # who goes first alternates by round
            model, workers = models[name]
            loaders[name] = _Waited(_loader(example, args, train_set, test_set, workers))
            epochs[name] = minigrad_steps(model, optimizers[name], loaders[name])
        for name, seconds in _interleaved_seconds(epochs, options.block).items():
            totals[name] += seconds
            waited[name] += loaders[name].seconds
    images = options.limit or len(train_set)
    print(f"{images} images, batch {args.batch_size}, augment={options.augment}")
    for name, seconds in totals.items():
        share = 100 * waited[name] / seconds
        print(f"{name:24s} {seconds:8.2f} s, {waited[name]:6.2f} s ({share:.2f}%) waiting for data")
    serial, prefetched = totals.values()
    print(f"serial / prefetched = {serial / prefetched:.3f} (> 1: loading ahead pays)")


if __name__ == "__main__":
    main()
