"""Tests of functional/losses.py and nn/losses.py: every loss and reduction against NumPy
references written here (loops over samples), gradients by gradcheck, extreme logits, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.testing as mt
from minigrad import F, nn
from minigrad.gradcheck import gradcheck

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # NumPy overflow/NaN warnings

REDUCTIONS = ["none", "mean", "sum"]


def reduce(loss, reduction):
    return {"none": loss, "sum": np.sum(loss), "mean": np.mean(loss)}[reduction]


def log_softmax_rows(rows):
    m = rows.max(axis=-1, keepdims=True)
    return rows - m - np.log(np.exp(rows - m).sum(axis=-1, keepdims=True))


def rows_of(x):
    """(N, C, d1, ...) -> (N * d1 * ..., C): one row of class scores per sample."""
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def ref_class_loss(x, y, weight, ignore_index, reduction, eps, log_probs=False):
    """Cross-entropy (or NLL when log_probs) with class ids, one sample at a time."""
    c = x.shape[1]
    w = np.ones(c) if weight is None else weight
    losses, denom = [], 0.0
    for row, t in zip(rows_of(x), y.reshape(-1)):
        if t == ignore_index:
            losses.append(0.0)
            continue
        lp = row if log_probs else log_softmax_rows(row)
        losses.append((1 - eps) * -w[t] * lp[t] + eps * -np.sum(w * lp) / c)
        denom += w[t]
    losses = np.array(losses).reshape(y.shape)
    if reduction == "mean":
        return np.sum(losses) / denom if denom > 0 else np.nan
    return reduce(losses, reduction)


def ref_soft_loss(x, p, weight, reduction, eps):
    c = x.shape[1]
    w = np.ones(c) if weight is None else weight
    q = (1 - eps) * rows_of(p) + eps / c
    losses = -np.sum(w * q * log_softmax_rows(rows_of(x)), axis=1)
    losses = losses.reshape((x.shape[0],) + x.shape[2:])
    return np.sum(losses) / losses.size if reduction == "mean" else reduce(losses, reduction)


@st.composite
def class_cases(draw):
    """Logits (N, C, *), class ids with some ignored (one always kept), options."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    extra = draw(st.sampled_from([(), (2,), (1, 2)]))
    x = draw(mt.arrays((n, c) + extra, low=-5, high=5))
    ignore_index = draw(st.sampled_from([-100, 0, c - 1]))
    y = draw(hnp.arrays(np.int64, (n,) + extra, elements=st.integers(0, c - 1)))
    dropped = draw(hnp.arrays(bool, y.shape))
    y = np.where(dropped, ignore_index, y)
    y.reshape(-1)[0] = 1 if ignore_index == 0 else 0  # at least one target counts
    weight = draw(st.none() | mt.arrays((c,), low=0.2, high=2.0))
    options = {
        "ignore_index": ignore_index,
        "reduction": draw(st.sampled_from(REDUCTIONS)),
        "label_smoothing": draw(st.sampled_from([0.0, 0.1, 0.35])),
    }
    return x, y, weight, options


def as_target(y, device, as_tensor):
    return mg.tensor(y, device=device) if as_tensor else y


# --------------------------------------------------------------------------- cross-entropy, NLL


@given(case=class_cases(), as_tensor=st.booleans())
def test_cross_entropy_with_class_ids(case, as_tensor, device):
    x, y, weight, options = case
    target = as_target(y, device, as_tensor)
    w = None if weight is None else mg.tensor(weight, device=device)
    got = F.cross_entropy(mg.tensor(x, device=device), target, w, **options).numpy()
    eps = options["label_smoothing"]
    ref = ref_class_loss(x, y, weight, options["ignore_index"], options["reduction"], eps)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    gradcheck(lambda t: F.cross_entropy(t, target, w, **options), [x], device=device)


@given(case=class_cases(), as_tensor=st.booleans())
def test_nll_loss(case, as_tensor, device):
    x, y, weight, options = case
    target = as_target(y, device, as_tensor)
    kw = {"ignore_index": options["ignore_index"], "reduction": options["reduction"]}
    got = F.nll_loss(mg.tensor(x, device=device), target, weight, **kw).numpy()
    ref = ref_class_loss(x, y, weight, kw["ignore_index"], kw["reduction"], 0.0, log_probs=True)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    gradcheck(lambda t: F.nll_loss(t, target, weight, **kw), [x], device=device)


@given(case=class_cases(), data=st.data())
def test_cross_entropy_with_class_probabilities(case, data, device):
    x, _, weight, options = case
    p = data.draw(mt.arrays(x.shape, low=0.05, high=1.0))
    p = p / p.sum(axis=1, keepdims=True)
    kw = {"reduction": options["reduction"], "label_smoothing": options["label_smoothing"]}
    got = F.cross_entropy(mg.tensor(x, device=device), mg.tensor(p, device=device), weight, **kw)
    ref = ref_soft_loss(x, p, weight, kw["reduction"], kw["label_smoothing"])
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-14)
    gradcheck(lambda t, q: F.cross_entropy(t, q, weight, **kw), [x, p], device=device)


def test_unbatched_cross_entropy_is_a_batch_of_one(device):
    x = mg.tensor([0.3, -1.2, 2.0], dtype="float64", device=device)
    got = F.cross_entropy(x, np.array(2), reduction="none")
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), -log_softmax_rows(x.numpy())[2], rtol=1e-14)


def test_every_target_ignored_gives_nan_for_mean_silently(device):
    x = mg.randn(3, 4, dtype="float64", device=device)
    y = np.full(3, -100)
    assert np.isnan(F.cross_entropy(x, y).numpy())
    assert F.cross_entropy(x, y, reduction="sum").numpy() == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("soft", [False, True])
def test_extreme_logits_give_finite_loss_and_gradient(dtype, soft, device):
    x = mg.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype, device=device)
    x.requires_grad_()
    y = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]]) if soft else np.array([1, 0])
    loss = F.cross_entropy(x, y, weight=[1.0, 2.0, 0.5], label_smoothing=0.1)
    loss.backward()
    assert np.isfinite(loss.numpy()) and loss.numpy() > 1e3
    assert np.all(np.isfinite(mg.backend.to_host(x.grad)))


# --------------------------------------------------------------------------- regression losses


@st.composite
def pairs(draw, min_gap=0.1):
    """(input, target) whose differences stay off 0 by `min_gap` (|d| is a kink of l1)."""
    shape = draw(mt.shapes(max_dims=3, max_side=3))
    x = draw(mt.arrays(shape))
    d = draw(mt.arrays(shape, kinks=(0.0,), margin=min_gap))
    return x, np.asarray(x - d)  # 0-d arithmetic gives a NumPy scalar: keep an array


def ref_huber(d, delta):
    a = np.abs(d)
    return np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))


REGRESSION = {
    "mse_loss": (F.mse_loss, lambda d: d * d),
    "l1_loss": (F.l1_loss, np.abs),
    "smooth_l1_loss": (
        lambda x, t, reduction: F.smooth_l1_loss(x, t, reduction=reduction, beta=0.6),
        lambda d: np.where(np.abs(d) < 0.6, 0.5 * d * d / 0.6, np.abs(d) - 0.3),
    ),
    "smooth_l1_loss_beta0": (
        lambda x, t, reduction: F.smooth_l1_loss(x, t, reduction=reduction, beta=0.0),
        np.abs,
    ),
    "huber_loss": (
        lambda x, t, reduction: F.huber_loss(x, t, reduction=reduction, delta=1.5),
        lambda d: ref_huber(d, 1.5),
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSION))
@given(case=pairs(), reduction=st.sampled_from(REDUCTIONS))
def test_regression_losses(name, case, reduction, device):
    fn, ref = REGRESSION[name]
    x, t = case
    got = fn(mg.tensor(x, device=device), mg.tensor(t, device=device), reduction=reduction)
    np.testing.assert_allclose(got.numpy(), reduce(ref(x - t), reduction), rtol=1e-12, atol=1e-14)
    gradcheck(lambda a, b: fn(a, b, reduction=reduction), [x, t], device=device)


# --------------------------------------------------------------------------- binary losses


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


@st.composite
def binary_cases(draw, low, high):
    shape = draw(mt.shapes(min_dims=1, max_dims=3, max_side=3))
    x = draw(mt.arrays(shape, low=low, high=high))
    t = draw(mt.arrays(shape, low=0.0, high=1.0))
    weight = draw(st.none() | mt.arrays(shape[-1:], low=0.1, high=2.0))
    return x, t, weight, draw(st.sampled_from(REDUCTIONS))


@given(case=binary_cases(0.05, 0.95))
def test_binary_cross_entropy(case, device):
    x, t, weight, reduction = case
    w = 1.0 if weight is None else weight
    ref = reduce(-w * (t * np.log(x) + (1 - t) * np.log(1 - x)), reduction)
    fn = lambda a, b: F.binary_cross_entropy(a, b, weight, reduction=reduction)  # noqa: E731
    got = fn(mg.tensor(x, device=device), mg.tensor(t, device=device))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-14)
    gradcheck(fn, [x, t], device=device)


def test_binary_cross_entropy_clamps_its_logs_at_minus_100(device):
    x = mg.tensor([0.0, 1.0, 1.0], dtype="float64", device=device)
    loss = F.binary_cross_entropy(x, np.array([1.0, 0.0, 1.0]), reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0, 0.0])


@given(case=binary_cases(-5.0, 5.0), data=st.data())
def test_binary_cross_entropy_with_logits(case, data, device):
    x, t, weight, reduction = case
    pos_weight = data.draw(st.none() | mt.arrays(x.shape[-1:], low=0.2, high=3.0))
    w = 1.0 if weight is None else weight
    pw = 1.0 if pos_weight is None else pos_weight
    s = np_sigmoid(x)
    ref = reduce(-w * (pw * t * np.log(s) + (1 - t) * np.log(1 - s)), reduction)

    def fn(a, b):
        return F.binary_cross_entropy_with_logits(
            a, b, weight, reduction=reduction, pos_weight=pos_weight
        )

    got = fn(mg.tensor(x, device=device), mg.tensor(t, device=device))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-11, atol=1e-14)
    gradcheck(fn, [x, t], device=device)


def test_bce_with_logits_gradient_wrt_pos_weight(device):
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.2, -0.7]])
    t = np.array([[1.0, 0.3, 0.0], [0.6, 1.0, 0.9]])
    pw = mg.tensor([0.5, 2.0, 1.5], dtype="float64", device=device, requires_grad=True)
    fn = lambda a: F.binary_cross_entropy_with_logits(a, t, pos_weight=pw)  # noqa: E731
    gradcheck(fn, [x], params=[pw], device=device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_is_finite_at_extreme_logits(dtype, device):
    x = mg.tensor([1e4, -1e4, 1e4, -1e4], dtype=dtype, device=device, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, np.array([0.0, 1.0, 1.0, 0.0]), reduction="sum")
    loss.backward()
    np.testing.assert_allclose(loss.numpy(), 2e4, rtol=1e-6)
    np.testing.assert_allclose(mg.backend.to_host(x.grad), [1.0, -1.0, 0.0, 0.0])


# --------------------------------------------------------------------------- KL divergence


@given(
    x=mt.arrays(st.sampled_from([(3,), (2, 3), (2, 2, 2)]), low=-4, high=0),
    data=st.data(),
    reduction=st.sampled_from(REDUCTIONS + ["batchmean"]),
    log_target=st.booleans(),
)
def test_kl_div(x, data, reduction, log_target, device):
    p = data.draw(mt.arrays(x.shape, low=0.05, high=1.0))
    t = np.log(p) if log_target else p
    terms = p * (np.log(p) - x)
    ref = np.sum(terms) / x.shape[0] if reduction == "batchmean" else reduce(terms, reduction)
    fn = lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target)  # noqa: E731
    got = fn(mg.tensor(x, device=device), mg.tensor(t, device=device))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-14)
    gradcheck(fn, [x, t], device=device)


def test_kl_div_counts_zero_targets_as_zero(device):
    x = mg.tensor([[-1.0, -2.0]], dtype="float64", device=device)
    got = F.kl_div(x, np.array([[0.0, 1.0]]), reduction="sum")
    np.testing.assert_allclose(got.numpy(), 2.0)


# --------------------------------------------------------------------------- errors


def test_out_of_range_class_ids_are_named(device):
    x = mg.randn(3, 4, device=device)
    with pytest.raises(IndexError, match="class id 4, but there are 4 classes"):
        F.cross_entropy(x, mg.tensor([0, 4, 1], device=device))
    with pytest.raises(IndexError, match="class id -1, but there are 4 classes"):
        F.nll_loss(x, np.array([0, -1, 1]))


def test_class_ids_on_a_gpu_are_checked_at_the_next_read(monkeypatch):
    """Ids that live on a GPU are checked without a host sync: each check waits for the next
    device read (the loss), which raises it; passing checks are forgotten there; too many
    waiting checks are read on their own. A GPU is played by device_of saying "cuda:0"."""
    from minigrad import backend
    from minigrad.functional.cross_entropy import check_class_ids

    def read():  # a device read, as loss.item() on a GPU
        return backend.to_host(backend.to_device(np.zeros(1), "strict"))

    monkeypatch.setattr(backend, "device_of", lambda a: "cuda:0")
    check_class_ids("nll_loss", np.array([0, 2, 1]), 3)
    check_class_ids("nll_loss", np.array([0, 3, 1]), 3, ignore_index=-100)
    assert len(backend._waiting_checks) == 2  # nothing read yet
    monkeypatch.undo()
    with pytest.raises(IndexError, match=r"out of range \(ids must be in \[0, 3\) or equal"):
        read()
    assert not backend._waiting_checks
    read()  # settled: nothing raises again
    monkeypatch.setattr(backend, "device_of", lambda a: "cuda:0")
    for _ in range(backend._WAITING_CHECKS_LIMIT - 1):
        check_class_ids("nll_loss", np.array([1]), 3)
    with pytest.raises(IndexError, match="class id out of range"):
        check_class_ids("nll_loss", np.array([5]), 3)  # the limit reads them all
    assert not backend._waiting_checks


def test_shape_and_option_errors():
    x = mg.randn(3, 4)
    with pytest.raises(ValueError, match=r"target has shape \(2,\), expected \(3,\)"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"target has shape \(3, 5\), expected the input's"):
        F.cross_entropy(x, np.ones((3, 5)) / 5)
    with pytest.raises(ValueError, match=r"weight has shape \(3,\), expected \(4,\)"):
        F.cross_entropy(x, np.array([0, 1, 2]), weight=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(TypeError, match="class targets must be integers"):
        F.nll_loss(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"target has shape \(4,\), expected the input's"):
        F.l1_loss(x, mg.randn(4))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.KLDivLoss(reduction="batch")


# --------------------------------------------------------------------------- modules


def test_loss_modules_wrap_their_functions(device):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((4, 3)), device=device)
    probs = mg.tensor(rng.uniform(0.1, 0.9, (4, 3)), device=device)
    soft = mg.tensor(rng.uniform(0.0, 1.0, (4, 3)), device=device)
    ids = np.array([0, 2, 1, 2])
    w = [0.5, 1.0, 2.0]
    cases = [
        (nn.CrossEntropyLoss(w, ignore_index=1, label_smoothing=0.2), (x, ids),
         lambda: F.cross_entropy(x, ids, w, ignore_index=1, label_smoothing=0.2)),
        (nn.NLLLoss(w, reduction="sum"), (x, ids),
         lambda: F.nll_loss(x, ids, w, reduction="sum")),
        (nn.MSELoss(reduction="none"), (x, soft), lambda: F.mse_loss(x, soft, reduction="none")),
        (nn.L1Loss(), (x, soft), lambda: F.l1_loss(x, soft)),
        (nn.SmoothL1Loss(beta=0.5), (x, soft), lambda: F.smooth_l1_loss(x, soft, beta=0.5)),
        (nn.HuberLoss("sum", 0.5), (x, soft),
         lambda: F.huber_loss(x, soft, reduction="sum", delta=0.5)),
        (nn.BCELoss(w), (probs, soft), lambda: F.binary_cross_entropy(probs, soft, w)),
        (nn.BCEWithLogitsLoss(pos_weight=w), (x, soft),
         lambda: F.binary_cross_entropy_with_logits(x, soft, pos_weight=w)),
        (nn.KLDivLoss(reduction="batchmean", log_target=True), (x, soft),
         lambda: F.kl_div(x, soft, reduction="batchmean", log_target=True)),
    ]  # fmt: skip
    for module, args, expected in cases:
        module.to(device)
        np.testing.assert_allclose(module(*args).numpy(), expected().numpy(), rtol=1e-6)


def test_class_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0])
    assert list(loss.state_dict()) == ["weight"]
    assert list(loss.parameters()) == []
