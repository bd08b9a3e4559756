"""Time to accuracy: one Fashion-MNIST epoch of examples/train_mnist.py's model with Adam in
minigrad and the same architecture in PyTorch, their steps interleaved. Read run.py first.
"""

import itertools
import os
import sys
import time

from benchmarks import memory, models

FRAMEWORKS = ("minigrad", "pytorch", "numpy")


def load_example(name="train_mnist"):
    """examples/<name>.py as a module (examples/ is not a package)."""
    import importlib.util

    folder = os.path.join(memory.ROOT, "examples")
    if folder not in sys.path:
        sys.path.insert(0, folder)  # as when run as a script: examples import each other
    path = os.path.join(folder, f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _example_defaults(example):
    """The example's own command-line defaults for Fashion-MNIST (whatever options it grows)."""
    argv = sys.argv
    sys.argv = ["train_mnist.py", "--dataset", "fashion", "--batch-size", str(models.BATCH)]
    try:
        return example.parse_args()
    finally:
        sys.argv = argv


def _minigrad_epoch(example, train_set, test_set):
    """(a generator running one epoch of the example's model with Adam, one step per next(),
    a function returning its test accuracy)."""
    import minigrad as mg
    import minigrad.functional as F
    from minigrad import optim

    mg.seed(0)
    train, test = example.make_loaders(_example_defaults(example), train_set, test_set)
    model = example.make_model()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def steps():
        model.train()
        for x, y in train:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            yield

    def accuracy():
        model.eval()
        correct = 0
        with mg.no_grad():
            for x, y in test:
                correct += int((model(x).numpy().argmax(axis=1) == y.numpy()).sum())
        return correct / len(test_set)

    return steps(), accuracy


def _torch_epoch(torch, example, train_set, test_set):
    """The same pair for PyTorch; batches are sliced from whole tensors, as minigrad's are."""
    torch.manual_seed(0)
    mean, std = example.STATS["fashion"]
    x, y = (torch.from_numpy(a) for a in train_set.arrays())
    x_test, y_test = (torch.from_numpy(a) for a in test_set.arrays())
    model = example.make_model(nn=torch.nn)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def steps():
        model.train()
        order = torch.randperm(len(x))
        for first in range(0, len(x), models.BATCH):
            ids = order[first : first + models.BATCH]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model((x[ids] - mean) / std), y[ids])
            loss.backward()
            optimizer.step()
            yield

    def accuracy():
        model.eval()
        with torch.no_grad():
            predicted = model((x_test - mean) / std).argmax(dim=1)
        return float((predicted == y_test).float().mean())

    return steps(), accuracy


def _interleaved_seconds(epochs, block=50):
    """Total seconds of each framework's epoch, running `block` steps of each in turn, so a
    slow spell of the machine is shared (as timing.alternate does for the other rows). Blocks,
    not single steps: the first step after a switch pays for the other library's spinning
    threads and cold caches (timing.py), about 10 switches an epoch instead of ~470."""
    seconds = {name: 0.0 for name in epochs}
    running = dict(epochs)
    while running:
        for name, steps in list(running.items()):
            start = time.perf_counter()
            taken = sum(1 for _ in itertools.islice(steps, block))
            seconds[name] += time.perf_counter() - start
            if taken < block:
                del running[name]
    return seconds


def epoch_rows(s):
    from minigrad.data import FashionMNIST

    try:
        train_set, test_set = FashionMNIST(train=True), FashionMNIST(train=False)
    except FileNotFoundError as missing:
        print(f"epoch: skipped, Fashion-MNIST not found ({missing})")
        return []
    example = load_example()
    runs = {"minigrad": _minigrad_epoch(example, train_set, test_set)}
    if s.torch is not None:
        runs["pytorch"] = _torch_epoch(s.torch, example, train_set, test_set)
    seconds = _interleaved_seconds({name: steps for name, (steps, _) in runs.items()})
    values = {k: seconds.get(k) for k in FRAMEWORKS}
    notes = [
        f"{k}: test accuracy {accuracy():.4f} after 1 epoch" for k, (_, accuracy) in runs.items()
    ]
    from benchmarks.run import Row

    return [Row("Fashion-MNIST 1 epoch, train_mnist model, Adam", "s", values, notes=notes)]
