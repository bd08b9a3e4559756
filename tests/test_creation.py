"""Constructors (minigrad/creation.py) and casts/moves: to(), float(), double(), cpu(), type(),
long() and int() keep every value exactly."""

import numpy as np
import pytest
from helpers import on
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.testing as mt
from minigrad import backend

# float32-representable values (drawn as float32, kept in float64) survive a round trip exactly
float32_values = hnp.arrays(
    np.float32, mt.shapes(0, 3), elements=st.floats(-1e6, 1e6, width=32)
).map(lambda a: a.astype(np.float64))


@given(x=float32_values)
def test_casts_keep_values_exactly(x, device):
    (t,) = on(device, x)
    single = t.float()
    assert single.dtype == "float32"
    np.testing.assert_array_equal(single.numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(single.double().numpy(), x)
    np.testing.assert_array_equal(t.to(dtype="float32").numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(t.to("float32").numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(t.type("float32").numpy(), x.astype(np.float32))
    whole = np.trunc(x)
    (w,) = on(device, whole)
    assert w.long().dtype == "int64" and w.int().dtype == "int32"
    np.testing.assert_array_equal(w.long().numpy(), whole.astype(np.int64))
    np.testing.assert_array_equal(w.int().numpy(), whole.astype(np.int32))
    np.testing.assert_array_equal(w.long().double().numpy(), whole)


@given(x=float32_values)
def test_moves_keep_values_exactly(x, device):
    t = mg.tensor(x, device="cpu")
    moved = t.to(device)
    assert moved.device == device and moved.dtype == "float64"
    np.testing.assert_array_equal(moved.numpy(), x)
    back = moved.cpu()
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), x)


@given(x=float32_values.filter(lambda a: a.size > 0))
def test_cast_gradients_are_exact(x, device):
    (t,) = on(device, x, requires_grad=True)
    g = np.arange(x.size, dtype=np.float32).reshape(x.shape) - 1.5
    t.float().backward(g)
    assert backend.dtype_name(t.grad.dtype) == "float64"
    np.testing.assert_array_equal(backend.to_host(t.grad), g.astype(np.float64))


def test_to_without_a_change_is_self_and_integer_casts_leave_the_graph(device):
    (t,) = on(device, np.array([1.5, -2.5]), requires_grad=True)
    assert t.to(device) is t and t.double() is t and t.to(dtype="float64") is t
    assert not t.long().requires_grad
    assert t.type() == "minigrad.DoubleTensor" and t.float().type() == "minigrad.FloatTensor"
    assert mg.tensor([1], device=device).type() == "minigrad.LongTensor"


def test_eye_linspace_empty(device):
    np.testing.assert_array_equal(mg.eye(3, device=device).numpy(), np.eye(3))
    np.testing.assert_array_equal(
        mg.eye(2, 3, dtype="float64", device=device).numpy(), np.eye(2, 3)
    )
    line = mg.linspace(-1, 1, 5, device=device)
    assert line.dtype == "float32"
    np.testing.assert_allclose(line.numpy(), np.linspace(-1, 1, 5))
    blank = mg.empty(2, 3, device=device)
    assert blank.shape == (2, 3) and blank.device == device
    with pytest.raises(ValueError, match="steps must be >= 0"):
        mg.linspace(0, 1, -1)


def test_randint_randperm_follow_the_seed(device):
    mg.manual_seed(3)
    a = mg.randint(5, (200,), device=device)
    b = mg.randint(-2, 2, (3, 4), device=device)
    p = mg.randperm(10, device=device)
    mg.manual_seed(3)
    assert mg.randint(5, (200,), device=device).tolist() == a.tolist()
    assert a.dtype == "int64" and set(a.tolist()) == set(range(5))
    assert b.shape == (3, 4) and b.numpy().min() >= -2 and b.numpy().max() < 2
    assert sorted(p.tolist()) == list(range(10)) and p.device == device
    with pytest.raises(ValueError, match="need low < high"):
        mg.randint(3, 3, (2,))
    with pytest.raises(TypeError, match="give high and size"):
        mg.randint(3)
