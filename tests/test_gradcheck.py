"""gradcheck itself: it must catch wrong backwards, find kinks, and pass correct ones."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import gradcheck
from minigrad.gradcheck import GradcheckError, NonDifferentiableError
from minigrad.tensor import Function


class SquareScaled(Function):
    """y = x**2 with a backward off by a relative `error`: a planted bug."""

    error = 0.0

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dout):
        return (dout * 2 * self.x * (1 + self.error),)


class OffByPointOnePercent(SquareScaled):
    error = 1e-3


class Softmax(Function):
    """A correct softmax whose input gradient is zero under a plain sum-of-outputs loss."""

    def forward(self, x):
        e = self.xp.exp(x - self.xp.max(x, axis=-1, keepdims=True))
        self.y = e / self.xp.sum(e, axis=-1, keepdims=True)
        return self.y

    def backward(self, dout):
        return (self.y * (dout - self.xp.sum(dout * self.y, axis=-1, keepdims=True)),)


class SoftmaxWrongBackward(Softmax):
    def backward(self, dout):
        return (self.y * dout,)  # forgets the second term


@given(x=mt.arrays(mt.shapes(1, 2, max_side=4), 0.5, 3.0))
def test_correct_backward_passes(x, device):
    assert gradcheck(SquareScaled.apply, [x], device=device)


def test_backward_off_by_a_tenth_of_a_percent_is_caught(device):
    x = np.linspace(0.5, 3.0, 6).reshape(2, 3)
    with pytest.raises(GradcheckError, match="gradient entries differ") as info:
        gradcheck(OffByPointOnePercent.apply, [x], device=device)
    assert "numeric" in str(info.value) and "analytic" in str(info.value)


def test_fast_mode_also_catches_it(device):
    x = np.linspace(0.5, 3.0, 12).reshape(3, 4)
    with pytest.raises(GradcheckError):
        gradcheck(OffByPointOnePercent.apply, [x], mode="fast", device=device)
    assert gradcheck(SquareScaled.apply, [x], mode="fast", device=device)


def test_softmax_checked_with_random_upstream_gradient():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert gradcheck(Softmax.apply, [x])
    with pytest.raises(GradcheckError):
        gradcheck(SoftmaxWrongBackward.apply, [x])


def test_kink_is_reported_or_skipped():
    x = np.array([0.0, 1.0, -2.0])
    with pytest.raises(NonDifferentiableError, match="kink"):
        gradcheck(lambda t: t.relu(), [x])
    assert gradcheck(lambda t: t.relu(), [x], nondiff="skip")


def test_input_mutation_is_detected():
    def mutating(t):
        t.data[0] = 5.0
        return t * 2

    with pytest.raises(GradcheckError, match="modified one of its inputs"):
        gradcheck(mutating, [np.ones(3)])


def test_params_are_checked_and_restored():
    w = mg.tensor(np.array([0.5, -1.5]), dtype="float32", requires_grad=True)
    assert gradcheck(lambda x: x * w, [np.array([1.0, 2.0])], params=[w])
    assert w.dtype == "float32" and w.grad is None


def test_integer_inputs_pass_through():
    ids = np.array([2, 0, 2])
    assert gradcheck(lambda x, i: x[i], [np.array([1.0, 2.0, 3.0]), ids])


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="mode must be"):
        gradcheck(lambda t: t, [np.ones(2)], mode="quick")


# --------------------------------------------------------------------------- the strategies


@given(x=mt.arrays((50,), -2.0, 2.0, kinks=(0.0, 1.0), margin=0.2))
def test_kink_free_arrays_keep_their_distance(x):
    assert np.all(np.abs(x) >= 0.2 - 1e-12) and np.all(np.abs(x - 1.0) >= 0.2 - 1e-12)
    assert np.all((x >= -2.0) & (x <= 2.0))


@given(x=mt.distinct_arrays((3, 4), gap=0.1))
def test_distinct_arrays_have_no_ties(x):
    values = np.sort(x.reshape(-1))
    assert np.all(np.diff(values) >= 0.1 - 1e-12)


@given(x=mt.well_conditioned((4, 3, 5)))
def test_well_conditioned_slices_have_spread(x):
    assert np.all(x.reshape(4, -1).std(axis=1) > 0.5)
    assert np.all(x.std(axis=(0, 2)) > 0.5)


@given(cfg=mt.conv2d_configs())
def test_conv_configs_are_valid(cfg):
    for axis, size in ((0, cfg["height"]), (1, cfg["width"])):
        k, s = cfg["kernel_size"][axis], cfg["stride"][axis]
        p, d = cfg["padding"][axis], cfg["dilation"][axis]
        assert (size + 2 * p - d * (k - 1) - 1) // s + 1 >= 1
    assert cfg["in_channels"] % cfg["groups"] == 0 and cfg["out_channels"] % cfg["groups"] == 0


@given(cfg=mt.pool2d_configs())
def test_pool_configs_are_valid(cfg):
    for axis, size in ((0, cfg["height"]), (1, cfg["width"])):
        k, p = cfg["kernel_size"][axis], cfg["padding"][axis]
        assert 2 * p <= k
        assert size + 2 * p >= cfg["dilation"][axis] * (k - 1) + 1


@given(shapes=mt.broadcastable_shapes(3))
def test_broadcastable_shapes_broadcast(shapes):
    np.broadcast_shapes(*shapes)


@given(st.data())
def test_dropout_masks_are_boolean(data):
    mask = data.draw(mt.dropout_masks((4, 5)))
    assert mask.dtype == bool and mask.shape == (4, 5)
