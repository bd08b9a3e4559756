"""Tensor and the engine: graph semantics, accumulation, memory, grad mode, errors."""

import gc
import weakref

import numpy as np
import pytest
from helpers import on

import minigrad as mg
from minigrad import backend
from minigrad.tensor import Function


def grad_of(t):
    return backend.to_host(t.grad)


def test_constructor_dtypes_and_devices(device):
    assert mg.tensor([1.0, 2.0], device=device).dtype == "float32"
    assert mg.tensor(np.zeros(2), device=device).dtype == "float64"
    assert mg.tensor([1, 2], device=device).dtype == "int64"
    assert mg.tensor([1.0], dtype="float64", device=device).dtype == "float64"
    t = mg.zeros(2, 3, device=device)
    assert t.shape == (2, 3) and t.device == device and t.dtype == "float32"
    assert mg.ones((4,), device=device).numpy().sum() == 4
    assert mg.arange(5, device=device).numpy().tolist() == [0, 1, 2, 3, 4]
    assert mg.randn(3, 2, device=device).shape == (3, 2)


def test_tensor_copies_its_input(device):
    a = np.zeros(3)
    t = mg.tensor(a, device=device)
    a[0] = 5
    assert t.numpy()[0] == 0
    t.data += 1
    assert a[1] == 0


def test_item_numpy_and_repr(device):
    t = mg.tensor([[2.5]], device=device, requires_grad=True)
    assert t.item() == 2.5
    assert isinstance(t.numpy(), np.ndarray)
    assert "requires_grad=True" in repr(t)
    with pytest.raises(ValueError, match="one-element"):
        mg.tensor([1.0, 2.0]).item()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only float tensors"):
        mg.tensor([1, 2], requires_grad=True)


def test_reused_tensor_accumulates(device):
    (x,) = on(device, np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(grad_of(x), 2 * np.array([1.0, 2.0, 3.0]) + 1)


def test_diamond_graph_runs_each_node_once(device):
    calls = []

    class Double(Function):
        def forward(self, x):
            return x * 2

        def backward(self, dout):
            calls.append(1)
            return (dout * 2,)

    (x,) = on(device, np.array([1.0, -2.0]), requires_grad=True)
    h = Double.apply(x)
    y = (h * 3 + h.exp()).sum()
    y.backward()
    assert len(calls) == 1
    np.testing.assert_allclose(grad_of(x), 2 * (3 + np.exp(2 * np.array([1.0, -2.0]))))


def test_grad_accumulates_across_backward_calls(device):
    (x,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(grad_of(x), [6.0, 6.0])


def test_leaf_gradients_are_not_aliased(device):
    a, b = on(device, np.ones(3), np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 10  # in-place change of one gradient (as clipping does) must not touch the other
    np.testing.assert_allclose(grad_of(b), [1.0, 1.0, 1.0])


def test_deep_chain_of_ten_thousand_ops():
    x = mg.tensor(1.0, dtype="float64", requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert np.isclose(float(x.grad), 1.0001**10_000)
    del y  # freeing the chain must not recurse either


def test_graph_is_freed_during_backward():
    x = mg.tensor(np.ones((100, 100)), requires_grad=True)
    h = x.exp()
    node = weakref.ref(h._ctx)
    y = (h * 2).sum()
    y.backward()
    gc.collect()
    assert node() is None, "the exp node (and its saved output) should be freed"


def test_second_backward_through_freed_graph_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    with pytest.raises(RuntimeError, match="already freed"):
        (h * 3).sum().backward()


def test_retain_graph_allows_second_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(grad_of(x), [4.0, 8.0])


def test_no_grad_builds_no_graph(device):
    (x,) = on(device, np.ones(3), requires_grad=True)
    with mg.no_grad():
        y = (x * 2).exp()
        with mg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y._ctx is None
    assert z.requires_grad

    @mg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_inputs_without_grad_get_none(device):
    a, b = on(device, np.ones(2), np.ones(2))
    a.requires_grad = True
    (a * b).sum().backward()
    assert b.grad is None and a.grad is not None


def test_backward_needs_gradient_for_non_scalar(device):
    (x,) = on(device, np.ones(3), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="one-element output"):
        y.backward()
    y.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(grad_of(x), [2.0, 4.0, 6.0])
    with pytest.raises(ValueError, match=r"gradient has shape \(2,\), expected \(3,\)"):
        (x * 2).backward(np.ones(2))


def test_backward_on_constant_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).sum().backward()


def test_retain_grad_on_intermediate(device):
    (x,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(grad_of(h), [6.0, 12.0])


def test_detach_cuts_the_graph(device):
    (x,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    y = (x.detach() * x).sum()
    y.backward()
    np.testing.assert_allclose(grad_of(x), [1.0, 2.0])


def test_mixing_devices_raises():
    a = mg.tensor([1.0], device="cpu")
    b = mg.tensor([1.0], device="strict")
    with pytest.raises(ValueError, match="different devices: cpu and strict"):
        a + b


def test_to_moves_between_devices_and_back_propagates():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("strict") * 2
    assert y.device == "strict"
    y.to("cpu").sum().backward()
    np.testing.assert_allclose(grad_of(x), [2.0, 2.0])


def test_float32_stays_float32_with_python_scalars(device):
    x = mg.tensor([1.0, 2.0], device=device)
    assert (x * 2.5 + 1).dtype == "float32"
    assert (2.0**x).dtype == "float32"


def test_unsupported_operand_type_is_named():
    with pytest.raises(TypeError, match="unsupported operand of type str"):
        mg.tensor([1.0]) + "a"


def test_detect_anomaly_names_the_op():
    x = mg.tensor([-1.0, 1.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(FloatingPointError, match="Sqrt.forward"):
        with np.errstate(invalid="ignore"):
            x.sqrt()


def test_seed_makes_randn_reproducible(device):
    mg.seed(3)
    a = mg.randn(4, device=device).numpy()
    mg.seed(3)
    b = mg.randn(4, device=device).numpy()
    np.testing.assert_array_equal(a, b)


def test_cuda_request_without_cupy_is_clear():
    if backend.cuda_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match=r"cuda"):
        mg.zeros(2, device="cuda")


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.zeros(2, device="tpu")


def test_a_non_leaf_stays_one_after_backward_frees_its_node():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    assert x.is_leaf and not h.is_leaf
