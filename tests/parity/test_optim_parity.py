"""Optimizer trajectories and learning-rate sequences against torch.optim (skipped without torch).

Equal initial weights, a small float64 MLP, 25 steps: every optimizer and its main variants
must match to 1e-6; every scheduler's 50-step lr sequence must match exactly (to rounding)."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler, swa_utils

torch = pytest.importorskip("torch")

SIZES = [(6, 5), (6,), (3, 6), (3,)]  # Linear(5, 6) -> tanh -> Linear(6, 3), weights (out, in)


def _data():
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s) * 0.5 for s in SIZES]
    x = rng.standard_normal((8, 5))
    y = rng.standard_normal((8, 3))
    return weights, x, y


def _minigrad_trajectory(name, kwargs, steps=25):
    weights, x, y = _data()
    params = [mg.tensor(w, dtype="float64", requires_grad=True) for w in weights]
    x, y = mg.tensor(x, dtype="float64"), mg.tensor(y, dtype="float64")
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(steps):
        w1, b1, w2, b2 = params
        out = (x @ w1.T + b1).tanh() @ w2.T + b2
        loss = ((out - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.numpy() for p in params]


def _torch_trajectory(name, kwargs, steps=25):
    weights, x, y = _data()
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    x, y = torch.tensor(x), torch.tensor(y)
    opt = getattr(torch.optim, name)(params, **kwargs)
    for _ in range(steps):
        w1, b1, w2, b2 = params
        out = torch.tanh(x @ w1.T + b1) @ w2.T + b2
        loss = ((out - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().numpy() for p in params]


OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "dampening": 0.5, "maximize": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("Adadelta", {"weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.01, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "betas": (0.9, 0.9), "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=[f"{n}-{k}" for n, k in OPTIMIZERS])
def test_trajectory_matches_torch(name, kwargs):
    ours = _minigrad_trajectory(name, kwargs)
    theirs = _torch_trajectory(name, kwargs)
    assert not np.allclose(ours[0], _data()[0][0])  # the weights did move
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- schedulers


def _optimizer(lib, name):
    if lib is torch:
        params = [torch.zeros(2, requires_grad=True) for _ in range(2)]
        cls = getattr(torch.optim, name)
    else:
        params = [mg.tensor(np.zeros(2), requires_grad=True) for _ in range(2)]
        cls = getattr(optim, name)
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    return cls([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)], **kwargs)


SCHEDULERS = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.95**e),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9),
    "StepLR": lambda m, o: m.StepLR(o, 7, 0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, [5, 12, 12, 30], 0.3),
    "ConstantLR": lambda m, o: m.ConstantLR(o, 0.25, 8),
    "LinearLR": lambda m, o: m.LinearLR(o, 0.1, 0.9, 10),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, 0.93),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, 30, 2.0),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, 12, 0.01),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, 5, 2, 1e-3),
    "CyclicLR-triangular": lambda m, o: m.CyclicLR(o, 0.01, 0.2, 6, 4),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(o, 0.01, 0.2, 6, 4, mode="triangular2"),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(
        o, [0.01, 0.02], 0.2, 5, mode="exp_range", gamma=0.97
    ),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, 0.5, total_steps=50),
    "OneCycleLR-three_phase": lambda m, o: m.OneCycleLR(
        o, [0.5, 1.0], total_steps=51, three_phase=True, anneal_strategy="linear", pct_start=0.25
    ),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, 0.1, 1.0, 5), m.CosineAnnealingLR(o, 20), m.ExponentialLR(o, 0.9)],
        [5, 30],
    ),  # fmt: skip
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ExponentialLR(o, 0.97), m.StepLR(o, 4, 0.5)]
    ),
}


def _swa(module):
    """The swa_utils module that goes with a library's lr_scheduler module (SWALR lives there)."""
    return torch.optim.swa_utils if module is torch.optim.lr_scheduler else swa_utils


SCHEDULERS["SWALR-cos"] = lambda m, o: _swa(m).SWALR(o, [0.05, 0.01], anneal_epochs=7)
SCHEDULERS["SWALR-linear"] = lambda m, o: _swa(m).SWALR(o, 0.02, 5, anneal_strategy="linear")


def _lr_sequence(lib, name, make):
    opt = _optimizer(lib, name)
    module = torch.optim.lr_scheduler if lib is torch else lr_scheduler
    scheduler = make(module, opt)
    rows = []
    for _ in range(50):
        momenta = [g.get("momentum", g.get("betas", (0.0,))[0]) for g in opt.param_groups]
        rows.append(list(scheduler.get_last_lr()) + momenta)
        opt.step()
        scheduler.step()
    return np.array(rows, dtype=float)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_lr_sequence_matches_torch(scheduler, optimizer):
    ours = _lr_sequence(mg, optimizer, SCHEDULERS[scheduler])
    theirs = _lr_sequence(torch, optimizer, SCHEDULERS[scheduler])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6] * 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patience": 2},
        {
            "mode": "max",
            "patience": 1,
            "cooldown": 2,
            "threshold_mode": "abs",
            "threshold": 0.01,
            "min_lr": 0.02,
            "factor": 0.5,
        },  # fmt: skip
    ],
)
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    sequences = []
    for lib, module in ((mg, lr_scheduler), (torch, torch.optim.lr_scheduler)):
        scheduler = module.ReduceLROnPlateau(_optimizer(lib, "SGD"), **kwargs)
        rows = []
        for value in METRICS[:50]:
            scheduler.step(value)
            rows.append(scheduler.get_last_lr())
        sequences.append(np.array(rows))
    np.testing.assert_allclose(sequences[0], sequences[1], rtol=1e-12)
    assert sequences[0][-1, 0] < sequences[0][0, 0]  # it did reduce
