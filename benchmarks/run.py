"""The benchmark suite: minigrad against PyTorch CPU (2 threads) and hand-written NumPy, in one
run, printed as one table. Read README.md for the rows; models.py and numpy_cnn.py hold the nets.

    python -m benchmarks [--quick] [--only NAME ...] [--runs N] [--markdown] [--check]

Every timed row warms up, then runs its contenders round-robin and keeps the median (timing.py),
so a slow spell of a shared machine hits every framework alike. Ratios are THROUGHPUT ratios:
> 1 means minigrad is faster (or, for memory, uses less).
"""

import argparse
import os
import statistics
from dataclasses import dataclass, field

import numpy as np

from benchmarks import bench_adam, bench_batchnorm, bench_conv, bench_mlp, ddp, memory, models
from benchmarks.epoch import epoch_rows, load_example
from benchmarks.numpy_cnn import BatchNorm, Conv, MaxPool2, NumpyCNN
from benchmarks.numpy_cnn import check as check_numpy_cnn
from benchmarks.timing import alternate, torch_or_none

FRAMEWORKS = ("minigrad", "pytorch", "numpy")


@dataclass
class Row:
    """One table line: a value per framework (None = not run) in `unit`."""

    name: str
    unit: str
    values: dict
    higher_is_better: bool = False
    notes: list = field(default_factory=list)


@dataclass
class Settings:
    repeats: int
    warmup: int
    memory_steps: int
    torch: object
    stat: object = statistics.median


def _timed(name, settings, contenders, inner=1):
    """A Row of median ms per call for the contenders that exist (value None skips one)."""
    present = {k: fn for k, fn in contenders.items() if fn is not None}
    seconds = alternate(
        present,
        repeats=settings.repeats,
        warmup=settings.warmup,
        inner=inner,
        settle=1,
        stat=settings.stat,
    )
    return Row(name, "ms", {k: seconds[k] * 1e3 if k in seconds else None for k in FRAMEWORKS})


# --------------------------------------------------------------------------- MLP


def mlp_rows(s):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((models.BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, models.BATCH)
    numpy_layers = bench_mlp.init_weights()
    train = {
        "minigrad": bench_mlp.minigrad_setup(bench_mlp.init_weights(), x, y),
        "pytorch": s.torch and bench_mlp.torch_setup(s.torch, bench_mlp.init_weights(), x, y),
        "numpy": lambda: bench_mlp.numpy_step(numpy_layers, x, y),
    }
    infer = {
        "minigrad": bench_mlp.minigrad_inference(numpy_layers, x),
        "pytorch": s.torch and bench_mlp.torch_inference(s.torch, numpy_layers, x),
        "numpy": lambda: bench_mlp.numpy_forward(numpy_layers, x),
    }
    return [
        _timed("MLP 784-512-512-10 train step (SGD)", s, train, inner=3),
        _timed("MLP 784-512-512-10 inference", s, infer, inner=3),
    ]


# --------------------------------------------------------------------------- CNN


def _cnn_train_contenders(s, batchnorm):
    x, y = models.cnn_batch()
    weights = models.cnn_weights(batchnorm=batchnorm)
    net = NumpyCNN(weights, batchnorm)
    model = models.minigrad_cnn(weights, batchnorm)
    contenders = {
        "minigrad": models.minigrad_train_step(model, x, y),
        "pytorch": None,
        "numpy": lambda: net.train_step(x, y),
    }
    if s.torch is not None:
        theirs = models.torch_cnn(s.torch, weights, batchnorm)
        contenders["pytorch"] = models.torch_train_step(s.torch, theirs, x, y)
    return contenders


def cnn_rows(s):
    x, _ = models.cnn_batch()
    weights = models.cnn_weights()
    net = NumpyCNN(weights)
    infer = {
        "minigrad": models.minigrad_inference(models.minigrad_cnn(weights), x),
        "pytorch": None,
        "numpy": lambda: net.forward(x, training=False),
    }
    if s.torch is not None:
        infer["pytorch"] = models.torch_inference(s.torch, models.torch_cnn(s.torch, weights), x)
    return [
        _timed("CNN train step (SGD momentum)", s, _cnn_train_contenders(s, False)),
        _timed("CNN inference (eval, no_grad)", s, infer),
    ]


def cnn_bn_rows(s):
    return [_timed("CNN+BatchNorm train step", s, _cnn_train_contenders(s, True))]


def cifar_rows(s):
    """examples/train_cifar10.py's model (5 conv-BN-ReLU layers, 3x32x32 input), Adam step."""
    import minigrad as mg
    import minigrad.functional as F
    from minigrad import optim

    x, y = models.cifar_batch()
    example = load_example("train_cifar10")
    model = example.make_model()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    xm, ym = mg.tensor(x), mg.tensor(y)

    def ours():
        optimizer.zero_grad()
        F.cross_entropy(model(xm), ym).backward()
        optimizer.step()

    contenders = {"minigrad": ours, "pytorch": None, "numpy": None}
    if s.torch is not None:
        torch = s.torch
        theirs = example.make_model(nn=torch.nn)
        their_optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def pytorch():
            their_optimizer.zero_grad()
            torch.nn.functional.cross_entropy(theirs(xt), yt).backward()
            their_optimizer.step()

        contenders["pytorch"] = pytorch
    return [_timed("CIFAR example model train step (Adam)", s, contenders)]


# --------------------------------------------------------------------------- single layers


def _nhwc(a):
    """The NHWC array behind a channels-last (B, C, H, W) view."""
    return a.transpose(0, 2, 3, 1)


def conv_rows(s):
    x, w, b, dout = bench_conv.conv_arrays(np.random.default_rng(0))
    cases = bench_conv.conv_contenders(x, w, b, dout)
    conv = Conv(w, b)
    x_nhwc, dout_nhwc = _nhwc(x), _nhwc(dout)

    def numpy_train():
        conv.forward(x_nhwc)
        conv.backward(dout_nhwc)

    forward = dict(zip(FRAMEWORKS, (*cases["forward"], lambda: conv.forward(x_nhwc))))
    train = dict(zip(FRAMEWORKS, (*cases["train"], numpy_train)))
    return [
        _timed("conv2d (128,32,14,14)x(64,32,3,3) p1 fwd", s, forward),
        _timed("conv2d (128,32,14,14)x(64,32,3,3) p1 fwd+bwd", s, train),
    ]


def pool_rows(s):
    x, dout = bench_conv.pool_arrays(np.random.default_rng(1))
    cases = bench_conv.pool_contenders(x, dout)
    pool = MaxPool2()
    x_nhwc, dout_nhwc = _nhwc(x), _nhwc(dout)

    def numpy_train():
        pool.forward(x_nhwc)
        pool.backward(dout_nhwc)

    train = dict(zip(FRAMEWORKS, (*cases["train"], numpy_train)))
    return [_timed("max_pool2d 2x2 (128,32,28,28) fwd+bwd", s, train)]


def batchnorm_rows(s):
    """Channels-last input, as a conv output in minigrad is (and as the NumPy net's NHWC)."""
    rng = np.random.default_rng(0)
    x = bench_batchnorm.channels_last(rng.standard_normal(bench_batchnorm.SHAPE, np.float32))
    dout = bench_batchnorm.channels_last(rng.standard_normal(bench_batchnorm.SHAPE, np.float32))
    channels = x.shape[1]
    norm = BatchNorm(np.ones(channels, np.float32), np.zeros(channels, np.float32))
    x_nhwc, dout_nhwc = _nhwc(x), _nhwc(dout)

    def numpy_train():
        norm.forward(x_nhwc)
        norm.backward(dout_nhwc)

    train = {
        "minigrad": bench_batchnorm.ours_step(x, dout),
        "pytorch": s.torch and bench_batchnorm.torch_step(x, dout),
        "numpy": numpy_train,
    }
    return [_timed("BatchNorm2d (128,32,28,28) train fwd+bwd", s, train)]


# --------------------------------------------------------------------------- optimizer, data


def _numpy_adam(params, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """A step closure of Adam on raw arrays, in place: the textbook update, no framework."""
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = [0]

    def step():
        t[0] += 1
        c1 = 1 - betas[0] ** t[0]
        c2 = 1 - betas[1] ** t[0]
        for p, g, m_i, v_i in zip(params, grads, m, v):
            m_i *= betas[0]
            m_i += (1 - betas[0]) * g
            v_i *= betas[1]
            v_i += (1 - betas[1]) * (g * g)
            denom = np.sqrt(v_i)
            denom /= np.sqrt(c2)
            denom += eps
            p -= (lr / c1) * m_i / denom

    return step


def adam_rows(s):
    weights, grads = bench_adam._arrays(0), bench_adam._arrays(1)
    contenders = {
        "minigrad": bench_adam.minigrad_step_fn(weights, grads),
        "pytorch": s.torch and bench_adam.torch_step_fn(s.torch, weights, grads),
        "numpy": _numpy_adam([w.copy() for w in weights], grads),
    }
    count = sum(w.size for w in weights)
    return [_timed(f"Adam step, {count / 1e6:.2f}M parameters", s, contenders, inner=5)]


def _drain(make_iterator, batches):
    """A closure reading `batches` batches from a fresh iterator (the epoch's shuffle included)."""

    def run():
        iterator = make_iterator()
        for _ in range(batches):
            next(iterator)

    return run


def loader_rows(s):
    from minigrad.data import DataLoader, TensorDataset

    rng = np.random.default_rng(0)
    x = rng.random((60000, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 60000)
    batches = 20 if s.repeats < 5 else 100
    ours = DataLoader(TensorDataset(x, y), batch_size=models.BATCH, shuffle=True, seed=0)

    def numpy_batches():
        order = rng.permutation(len(x))
        for start in range(0, len(x), models.BATCH):
            ids = order[start : start + models.BATCH]
            yield x[ids], y[ids]

    contenders = {
        "minigrad": _drain(lambda: iter(ours), batches),
        "pytorch": None,
        "numpy": _drain(numpy_batches, batches),
    }
    if s.torch is not None:
        data = s.torch.utils.data
        dataset = data.TensorDataset(s.torch.from_numpy(x), s.torch.from_numpy(y))
        theirs = data.DataLoader(dataset, batch_size=models.BATCH, shuffle=True)
        contenders["pytorch"] = _drain(lambda: iter(theirs), batches)
    row = _timed("DataLoader, shuffled 60000x1x28x28 float32", s, contenders)
    row.values = {k: batches / (v / 1e3) if v else None for k, v in row.values.items()}
    return [Row(row.name, "batch/s", row.values, higher_is_better=True)]


def memory_rows(s):
    values = {}
    for framework in FRAMEWORKS:
        if framework == "pytorch" and s.torch is None:
            values[framework] = None
            continue
        values[framework] = memory.measure(framework, s.memory_steps)
    name = f"peak RSS, {s.memory_steps} CNN train steps"
    return [Row(name, "MiB", values, notes=["MiB of peak RSS (VmHWM) over the import baseline"])]


# --------------------------------------------------------------------------- data parallelism


def ddp_rows(s):
    """Train-step throughput of the examples' models: minigrad with 1 process and 2 ranks
    (benchmarks/ddp.py, fresh processes interleaved) against PyTorch in one process."""
    rounds, steps = (1, 3) if s.repeats < 10 else (5, 10)
    rows = []
    for model in ("mnist", "cifar"):
        results = ddp.measure(model, 2, rounds, steps, s.torch is not None)
        single = results["minigrad 1 process"][0]
        torch = results.get("PyTorch 1 process", (None,))[0]
        name = ddp.MODELS[model][0]
        rows.append(
            Row(f"{name} model, 1 process", "img/s", {"minigrad": single, "pytorch": torch}, True)
        )
        if "minigrad 2 ranks" in results:
            multi, comm = results["minigrad 2 ranks"]
            note = f"{multi / single:.2f}x one process; {comm:.1%} of the step in all_reduce"
            values = {"minigrad": multi, "pytorch": torch}
            rows.append(Row(f"{name} model, 2 ranks (DDP)", "img/s", values, True, [note]))
    return rows


# --------------------------------------------------------------------------- table


def ratio(row, other):
    """Throughput ratio minigrad / `other` (> 1 = minigrad better), or None."""
    ours, theirs = row.values.get("minigrad"), row.values.get(other)
    if not ours or not theirs:
        return None
    return ours / theirs if row.higher_is_better else theirs / ours


def _cell(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(rows, markdown=False):
    header = ["benchmark", "unit", "minigrad", "PyTorch", "NumPy ref", "mg/PT", "mg/NP"]
    lines = []
    for row in rows:
        cells = [_cell(row.values.get(k), 1) for k in FRAMEWORKS]
        ratios = [_cell(ratio(row, k)) for k in ("pytorch", "numpy")]
        lines.append([row.name, row.unit, *cells, *ratios])
    if markdown:
        rule = ["---"] * 2 + ["---:"] * 5
        return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *lines])
    widths = [48, 8, 10, 10, 10, 7, 7]
    out = []
    for cells in [header, *lines]:
        parts = [
            f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths))
        ]
        out.append(" ".join(parts))
    return "\n".join(out)


# --------------------------------------------------------------------------- main

GROUPS = {
    "mlp": mlp_rows,
    "cnn": cnn_rows,
    "cnn-bn": cnn_bn_rows,
    "cifar": cifar_rows,
    "conv": conv_rows,
    "pool": pool_rows,
    "batchnorm": batchnorm_rows,
    "adam": adam_rows,
    "loader": loader_rows,
    "memory": memory_rows,
    "epoch": epoch_rows,
    "ddp": ddp_rows,
}
DEFAULT_GROUPS = [name for name in GROUPS if name not in ("epoch", "ddp")]


def median_rows(runs):
    """One Row per benchmark holding the per-framework median over the suite's runs."""
    merged = []
    for rows in zip(*runs):
        values = {}
        for k in FRAMEWORKS:
            cells = [row.values[k] for row in rows if row.values.get(k) is not None]
            values[k] = statistics.median(cells) if cells else None
        first = rows[0]
        merged.append(Row(first.name, first.unit, values, first.higher_is_better, first.notes))
    return merged


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few repeats (< 1 min)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(GROUPS),
        help="run only these groups (epoch and ddp: opt-in)",
    )
    parser.add_argument("--runs", type=int, default=1, help="run N times, print the medians")
    parser.add_argument("--torch-threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument(
        "--stat", choices=["median", "min"], default="median", help="per-row summary of rounds"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--check", action="store_true", help="first check the NumPy CNN's gradients (numpy_cnn)"
    )
    return parser.parse_args(argv)


def _load_average():
    """The 1-minute load average (NaN where the OS has none): the run's noise, printed."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def main(argv=None):
    args = parse_args(argv)
    torch = torch_or_none(threads=args.torch_threads)
    if args.check:
        check_numpy_cnn()
    if args.quick:
        settings = Settings(repeats=3, warmup=1, memory_steps=5, torch=torch)
    else:
        settings = Settings(repeats=15, warmup=3, memory_steps=20, torch=torch)
    settings.stat = statistics.median if args.stat == "median" else min
    groups = args.only or DEFAULT_GROUPS
    threads = f"{args.torch_threads} thread{'s' if args.torch_threads > 1 else ''}"
    version = f"{torch.__version__} ({threads})" if torch is not None else "not installed"
    print(f"batch {models.BATCH}, float32; PyTorch {version}; numpy {np.__version__}; {args.stat}")
    runs = []
    for index in range(args.runs):
        load = _load_average()
        runs.append([row for name in groups for row in GROUPS[name](settings)])
        print(
            f"\nrun {index + 1}/{args.runs}: 1-min load average {load:.2f} -> {_load_average():.2f}"
        )
        print(format_table(runs[-1], args.markdown))
    if args.runs > 1:
        print(f"\nmedian of {args.runs} runs")
        print(format_table(median_rows(runs), args.markdown))
    for row in runs[-1]:
        for note in row.notes:
            print(f"  {row.name}: {note}")
    print("ratios: throughput minigrad / other, > 1 = minigrad faster (memory: smaller)")
