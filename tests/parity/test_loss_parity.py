"""Parity of every loss with PyTorch (skipped without torch): loss values and gradients for
input and (where PyTorch has one) target, in float64 to 1e-10, for every option."""

import itertools
import warnings

import numpy as np
import pytest
from helpers import assert_pairs_close, run_with_torch

import minigrad as mg
from minigrad import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
REDUCTIONS = ["none", "mean", "sum"]


def run_both(ours, theirs, arrays, device, seed=0):
    """run_with_torch, with torch's UserWarning about kl_div's "mean" silenced."""

    def quiet(*refs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return theirs(*refs)

    return run_with_torch(torch, ours, quiet, arrays, device, seed)


RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((5, 4, 3)) * 3
IDS = RNG.integers(0, 4, (5, 3))
IDS[0, 0] = IDS[3, 2] = 2  # class 2 doubles as ignore_index below
IDS[1, 1] = -100
WEIGHT = RNG.uniform(0.2, 2.0, 4)
PROBS = RNG.dirichlet(np.ones(4), (5, 3)).transpose(0, 2, 1).copy()

CE_OPTIONS = list(
    itertools.product(REDUCTIONS, [False, True], [-100, 2], [0.0, 0.15], [(5, 4, 3), (5, 4)])
)


def _case(shape, ignore_index):
    x = LOGITS if len(shape) == 3 else LOGITS[:, :, 0].copy()
    y = IDS if len(shape) == 3 else IDS[:, 0].copy()
    return x, np.where(y == -100, ignore_index, y)


@pytest.mark.parametrize("reduction, weighted, ignore_index, smoothing, shape", CE_OPTIONS)
def test_cross_entropy_class_ids(reduction, weighted, ignore_index, smoothing, shape, device):
    x, y = _case(shape, ignore_index)
    w = WEIGHT if weighted else None
    kw = {"ignore_index": ignore_index, "reduction": reduction, "label_smoothing": smoothing}
    wt = None if w is None else torch.from_numpy(w)
    assert_pairs_close(
        run_both(
            lambda a: F.cross_entropy(a, y, w, **kw),
            lambda a: TF.cross_entropy(a, torch.from_numpy(y), wt, **kw),
            [x],
            device,
        )
    )


@pytest.mark.parametrize("reduction, weighted, ignore_index, _, shape", CE_OPTIONS[::2])
def test_nll_loss(reduction, weighted, ignore_index, _, shape, device):
    x, y = _case(shape, ignore_index)
    w = WEIGHT if weighted else None
    kw = {"ignore_index": ignore_index, "reduction": reduction}
    wt = None if w is None else torch.from_numpy(w)
    assert_pairs_close(
        run_both(
            lambda a: F.nll_loss(a, y, w, **kw),
            lambda a: TF.nll_loss(a, torch.from_numpy(y), wt, **kw),
            [x],
            device,
        )
    )


@pytest.mark.parametrize(
    "reduction, weighted, smoothing", list(itertools.product(REDUCTIONS, [False, True], [0.0, 0.2]))
)
def test_cross_entropy_class_probabilities(reduction, weighted, smoothing, device):
    w = WEIGHT if weighted else None
    wt = None if w is None else torch.from_numpy(w)
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    assert_pairs_close(
        run_both(
            lambda a, p: F.cross_entropy(a, p, w, **kw),
            lambda a, p: TF.cross_entropy(a, p, wt, **kw),
            [LOGITS, PROBS],
            device,
        )
    )


def test_cross_entropy_extreme_logits_and_unbatched(device):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    y = np.array([1, 2])
    kw = {"label_smoothing": 0.1, "reduction": "sum"}
    assert_pairs_close(
        run_both(
            lambda a: F.cross_entropy(a, y, **kw),
            lambda a: TF.cross_entropy(a, torch.from_numpy(y), **kw),
            [x],
            device,
        )
    )
    assert_pairs_close(
        run_both(
            lambda a: F.cross_entropy(a, np.array(1), reduction="none"),
            lambda a: TF.cross_entropy(a, torch.tensor(1), reduction="none"),
            [x[0].copy()],
            device,
        )
    )


def test_every_target_ignored_is_nan_like_torch():
    x = torch.from_numpy(LOGITS)
    y = np.full((5, 3), -100)
    ref = TF.cross_entropy(x, torch.from_numpy(y)).item()
    assert np.isnan(ref) and np.isnan(F.cross_entropy(mg.tensor(LOGITS), y).item())


A = RNG.standard_normal((4, 5))
B = A + RNG.choice([-1, 1], A.shape) * RNG.uniform(0.2, 2.0, A.shape)  # |A - B| >= 0.2
PROB_IN = RNG.uniform(0.05, 0.95, (4, 5))
PROB_T = RNG.uniform(0.0, 1.0, (4, 5))
LOG_P = np.log(RNG.dirichlet(np.ones(5), 4))
P = RNG.dirichlet(np.ones(5), 4)
ROW_W = RNG.uniform(0.3, 2.0, 5)
POS_W = RNG.uniform(0.3, 3.0, 5)

PAIRWISE = {
    "mse": (F.mse_loss, TF.mse_loss, [A, B], {}),
    "l1": (F.l1_loss, TF.l1_loss, [A, B], {}),
    "smooth_l1": (F.smooth_l1_loss, TF.smooth_l1_loss, [A, B], {"beta": 0.7}),
    "smooth_l1_beta0": (F.smooth_l1_loss, TF.smooth_l1_loss, [A, B], {"beta": 0.0}),
    "huber": (F.huber_loss, TF.huber_loss, [A, B], {"delta": 0.7}),
    "bce": (F.binary_cross_entropy, TF.binary_cross_entropy, [PROB_IN, PROB_T], {}),
    "bce_weighted": (
        F.binary_cross_entropy,
        TF.binary_cross_entropy,
        [PROB_IN, PROB_T],
        {"weight": ROW_W},
    ),
    "bce_logits": (
        F.binary_cross_entropy_with_logits,
        TF.binary_cross_entropy_with_logits,
        [A * 3, PROB_T],
        {},
    ),
    "bce_logits_weights": (
        F.binary_cross_entropy_with_logits,
        TF.binary_cross_entropy_with_logits,
        [A * 3, PROB_T],
        {"weight": ROW_W, "pos_weight": POS_W},
    ),
    "kl_div": (F.kl_div, TF.kl_div, [LOG_P, P], {}),
    "kl_div_log_target": (F.kl_div, TF.kl_div, [LOG_P, np.log(P)], {"log_target": True}),
}


PAIRWISE_OPTIONS = [(name, reduction) for name in sorted(PAIRWISE) for reduction in REDUCTIONS]
PAIRWISE_OPTIONS += [("kl_div", "batchmean"), ("kl_div_log_target", "batchmean")]


@pytest.mark.parametrize("name, reduction", PAIRWISE_OPTIONS)
def test_pairwise_losses(name, reduction, device):
    ours, theirs, arrays, kw = PAIRWISE[name]
    kw_torch = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    assert_pairs_close(
        run_both(
            lambda a, b: ours(a, b, reduction=reduction, **kw),
            lambda a, b: theirs(a, b, reduction=reduction, **kw_torch),
            arrays,
            device,
        )
    )


def test_bce_with_logits_extreme_logits(device):
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.5])
    pw = np.array([2.0])
    assert_pairs_close(
        run_both(
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=pw),
            lambda a, b: TF.binary_cross_entropy_with_logits(a, b, pos_weight=torch.from_numpy(pw)),
            [x, t],
            device,
        )
    )
