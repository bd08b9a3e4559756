"""Normalisation and dropout layers against PyTorch in float64 (skipped without torch): outputs,
input and parameter gradients, running statistics after 3 training steps, then eval; dropout
and alpha dropout with the mask PyTorch drew (read back from its gradient)."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-10, atol=1e-10)

# (name, minigrad layer, torch layer, input shape)
CASES = [
    ("bn1d_2d", lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (5, 3)),
    ("bn1d_3d", lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (4, 3, 6)),
    ("bn2d", lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 5, 6)),
    (
        "bn2d_cumulative",
        lambda: nn.BatchNorm2d(3, momentum=None),
        lambda: torch.nn.BatchNorm2d(3, momentum=None),
        (4, 3, 2, 5),
    ),
    (
        "bn2d_no_affine",
        lambda: nn.BatchNorm2d(2, affine=False, eps=1e-3, momentum=0.3),
        lambda: torch.nn.BatchNorm2d(2, affine=False, eps=1e-3, momentum=0.3),
        (3, 2, 4, 3),
    ),
    (
        "bn2d_untracked",
        lambda: nn.BatchNorm2d(3, track_running_stats=False),
        lambda: torch.nn.BatchNorm2d(3, track_running_stats=False),
        (3, 3, 2, 2),
    ),
    (
        "in2d_tracked",
        lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
        lambda: torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
        (4, 3, 5, 6),
    ),
    ("in1d", lambda: nn.InstanceNorm1d(3), lambda: torch.nn.InstanceNorm1d(3), (4, 3, 7)),
    ("ln", lambda: nn.LayerNorm((5, 6)), lambda: torch.nn.LayerNorm((5, 6)), (4, 3, 5, 6)),
    (
        "ln_no_bias",
        lambda: nn.LayerNorm(6, bias=False),
        lambda: torch.nn.LayerNorm(6, bias=False),
        (4, 6),
    ),
    ("gn", lambda: nn.GroupNorm(2, 4), lambda: torch.nn.GroupNorm(2, 4), (3, 4, 5, 2)),
    (
        "gn_no_affine",
        lambda: nn.GroupNorm(4, 4, affine=False),
        lambda: torch.nn.GroupNorm(4, 4, affine=False),
        (3, 4, 6),
    ),
    ("rms", lambda: nn.RMSNorm((5, 6)), lambda: torch.nn.RMSNorm((5, 6)), (4, 3, 5, 6)),
    (
        "rms_eps",
        lambda: nn.RMSNorm(6, eps=1e-3),
        lambda: torch.nn.RMSNorm(6, eps=1e-3),
        (4, 6),
    ),
]


def _randomise_affine(ours, theirs, rng):
    """Give both layers the same random weight/bias (ones/zeros would hide a swapped term)."""
    for name, p in ours.named_parameters():
        value = rng.uniform(0.5, 1.5, p.shape) if name == "weight" else rng.normal(0, 1, p.shape)
        p.data = mg.tensor(value, dtype="float64", device=p.device).data
        with torch.no_grad():
            getattr(theirs, name).copy_(torch.from_numpy(value))


def _step(ours, theirs, x, dout, device):
    """One forward/backward of each; returns the pairs of arrays that must agree."""
    xm = mg.tensor(x, dtype="float64", device=device, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ym, yt = ours(xm), theirs(xt)
    ym.backward(mg.tensor(dout, dtype="float64", device=device))
    yt.backward(torch.from_numpy(dout))
    pairs = [(ym.numpy(), yt.detach().numpy()), (mg.Tensor(xm.grad).numpy(), xt.grad.numpy())]
    torch_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        pairs.append((mg.Tensor(p.grad).numpy(), torch_params[name].grad.numpy()))
        p.grad = None
        torch_params[name].grad = None
    return pairs


@pytest.mark.parametrize("name, make_ours, make_theirs, shape", CASES, ids=[c[0] for c in CASES])
def test_norm_layers_match_pytorch(name, make_ours, make_theirs, shape, device):
    rng = np.random.default_rng(0)
    ours = make_ours().to(device, "float64")
    theirs = make_theirs().double()
    _randomise_affine(ours, theirs, rng)
    for _ in range(3):
        x = rng.normal(1.0, 2.0, shape)
        for a, b in _step(ours, theirs, x, rng.standard_normal(shape), device):
            np.testing.assert_allclose(a, b, **TOL)
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key in ours_state:
        np.testing.assert_allclose(mg.Tensor(ours_state[key]).numpy(), theirs_state[key].numpy())
    ours.eval()
    theirs.eval()
    x = rng.normal(0.5, 1.5, shape)
    for a, b in _step(ours, theirs, x, rng.standard_normal(shape), device):
        np.testing.assert_allclose(a, b, **TOL)


# --------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("kind", ["dropout", "dropout2d", "alpha", "feature_alpha"])
def test_dropout_matches_pytorch_given_its_mask(kind, device):
    """PyTorch draws the mask; its input gradient (dout = 1) is keep·scale, which reveals it."""
    p = 0.3
    torch.manual_seed(0)
    x = np.random.default_rng(1).standard_normal((4, 5, 3, 2))
    xt = torch.tensor(x, requires_grad=True)
    torch_fn = {
        "dropout": torch.nn.functional.dropout,
        "dropout2d": torch.nn.functional.dropout2d,
        "alpha": torch.nn.functional.alpha_dropout,
        "feature_alpha": torch.nn.functional.feature_alpha_dropout,
    }[kind]
    yt = torch_fn(xt, p, True)
    yt.backward(torch.ones_like(yt))
    keep = xt.grad.numpy() != 0
    if kind in ("dropout2d", "feature_alpha"):
        keep = keep[:, :, :1, :1]
    ours_fn = {
        "dropout": mg.F.dropout,
        "dropout2d": mg.F.dropout2d,
        "alpha": mg.F.alpha_dropout,
        "feature_alpha": mg.F.feature_alpha_dropout,
    }[kind]
    xm = mg.tensor(x, dtype="float64", device=device, requires_grad=True)
    ym = ours_fn(xm, p, True, mask=keep)
    ym.backward(mg.ones(*x.shape, dtype="float64", device=device))
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), **TOL)
    np.testing.assert_allclose(mg.Tensor(xm.grad).numpy(), xt.grad.numpy(), **TOL)


def test_dropout_formula_matches_pytorch_ops(device):
    """The written formulas, evaluated by torch ops on the same mask, equal minigrad's output."""
    p = 0.4
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 7))
    keep = rng.random((6, 7)) >= p
    xt, kt = torch.from_numpy(x), torch.from_numpy(keep).double()
    alpha = 1.7580993408473766  # λα of SELU
    a = 1.0 / np.sqrt((alpha * alpha * p + 1) * (1 - p))
    expected_dropout = xt * kt / (1 - p)
    expected_alpha = a * (xt * kt - alpha * (1 - kt)) + a * alpha * p
    xm = mg.tensor(x, dtype="float64", device=device)
    ours = mg.F.dropout(xm, p, True, mask=keep).numpy()
    np.testing.assert_allclose(ours, expected_dropout.numpy(), **TOL)
    ours = mg.F.alpha_dropout(xm, p, True, mask=keep).numpy()
    np.testing.assert_allclose(ours, expected_alpha.numpy(), **TOL)
