"""autograd.grad and gradient hooks: Tensor.register_hook and Module's full backward hooks."""

import numpy as np
import pytest
from helpers import on
from hypothesis import given

import minigrad as mg
import minigrad.testing as mt
from minigrad import backend, nn


def host(a):
    return backend.to_host(a.data if isinstance(a, mg.Tensor) else a)


@given(x=mt.arrays(mt.shapes(1, 2, max_side=4)), w=mt.arrays((1,)))
def test_grad_equals_backward_and_leaves_dot_grad_alone(x, w, device):
    def f(a, b):
        return ((a * b).tanh() + a * a).sum()

    a, b = on(device, x, w, requires_grad=True)
    f(a, b).backward()
    expected = [host(a.grad), host(b.grad)]
    c, d = on(device, x, w, requires_grad=True)
    grads = mg.autograd.grad(f(c, d), [c, d])
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(host(g), e, rtol=1e-12)
    assert c.grad is None and d.grad is None


def test_grad_of_an_intermediate_with_grad_outputs(device):
    (x,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    y = h * h
    (dh,) = mg.autograd.grad(
        y, h, grad_outputs=mg.tensor([1.0, 0.5], dtype="float64", device=device)
    )
    np.testing.assert_allclose(host(dh), [2 * 3.0, 0.5 * 2 * 6.0])
    assert x.grad is None


def test_grad_of_several_outputs_adds_up(device):
    (x,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    (g,) = mg.autograd.grad([(x * 2).sum(), (x * x).sum()], x)
    np.testing.assert_allclose(host(g), 2 + 2 * np.array([1.0, 2.0]))


def test_grad_unused_inputs_and_options(device):
    x, z = on(device, np.ones(2), np.ones(2), requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        mg.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = mg.autograd.grad(y, [x, z], allow_unused=True, retain_graph=True)
    assert gz is None and host(gx).tolist() == [2.0, 2.0]
    (g,) = mg.autograd.grad(y, x, create_graph=True)  # keeps the graph (retain defaults on)
    assert host(g).tolist() == [2.0, 2.0] and not g.requires_grad  # d(2x)/dx has no x left
    mg.autograd.grad(y, x)  # the graph was retained until now; this call frees it
    with pytest.raises(RuntimeError, match="already freed"):
        mg.autograd.grad(y, x)


# --------------------------------------------------------------------------- tensor hooks


def test_hooks_see_and_may_replace_gradients(device):
    (x,) = on(device, np.array([1.0, -2.0]), requires_grad=True)
    seen = []
    h = x * 3
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    h.register_hook(lambda g: g * 10)  # replaces dL/dh for everything upstream
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (h * h).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * 3 * np.array([1.0, -2.0]))
    np.testing.assert_allclose(seen[1], 3 * 10 * seen[0])
    np.testing.assert_allclose(host(x.grad), seen[1])


def test_removed_hook_does_not_run_and_bad_hooks_raise(device):
    (x,) = on(device, np.ones(2), requires_grad=True)
    handle = x.register_hook(lambda g: g * 0)
    handle.remove()
    (x * 2).sum().backward()
    assert host(x.grad).tolist() == [2.0, 2.0]
    x.register_hook(lambda g: mg.ones(3))
    with pytest.raises(ValueError, match=r"hook returned shape \(3,\), expected \(2,\)"):
        (x * 2).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.ones(2).register_hook(print)


# --------------------------------------------------------------------------- module hooks


def test_full_backward_hook_gets_input_and_output_gradients(device):
    mg.seed(0)
    layer = nn.Linear(3, 2).to(device).double()
    calls = []
    handle = layer.register_full_backward_hook(lambda m, gi, go: calls.append((m, gi, go)))
    (x,) = on(device, np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    y = layer(x)
    dout = np.random.default_rng(1).standard_normal((4, 2))
    y.backward(dout)
    module, grad_input, grad_output = calls[0]
    assert module is layer and len(calls) == 1
    np.testing.assert_allclose(host(grad_output[0]), dout)
    np.testing.assert_allclose(host(grad_input[0]), dout @ host(layer.weight))
    np.testing.assert_allclose(host(x.grad), host(grad_input[0]))
    handle.remove()
    layer(x).sum().backward()
    assert len(calls) == 1


def test_full_backward_hook_may_replace_grad_input(device):
    layer = nn.Tanh()
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0 + 7,))
    (x,) = on(device, np.zeros(2), requires_grad=True)
    layer(x).sum().backward()
    assert host(x.grad).tolist() == [7.0, 7.0]


def test_full_backward_hook_when_no_input_needs_a_gradient(device):
    layer = nn.Linear(2, 1).to(device)
    calls = []
    layer.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go)))
    layer(mg.ones(5, 2, device=device)).sum().backward()
    (grad_input, grad_output) = calls[0]
    assert grad_input == (None,) and host(grad_output[0]).shape == (5, 1)


def test_grad_runs_nothing_beyond_a_non_leaf_input(device):
    (a,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    h = a * 3
    (gh,) = mg.autograd.grad((h * h).sum(), h)
    assert host(gh).tolist() == [6.0, 12.0]
    h.sum().backward()  # the graph from a to h was neither run nor freed by grad()
    assert host(a.grad).tolist() == [3.0, 3.0]


def test_create_graph_records_even_under_no_grad(device):
    (x,) = on(device, np.array(0.5), requires_grad=True)
    y = x * x * x
    with mg.no_grad():
        (g,) = mg.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad
    assert host(mg.autograd.grad(g, x)[0]) == pytest.approx(3.0)  # d(3x^2)/dx = 6x


def test_second_derivative_through_a_0d_numpy_result():
    # NumPy reductions and 0-d ops return scalars, which forward may have saved as `y`
    x = mg.tensor(0.5, dtype="float64", requires_grad=True)
    (g,) = mg.autograd.grad(x.exp(), x, create_graph=True)
    assert mg.autograd.grad(g, x)[0].item() == pytest.approx(np.exp(0.5), rel=1e-12)
    t = mg.tensor([0.5, 1.2], dtype="float64", requires_grad=True)
    (gt,) = mg.autograd.grad((t[0] * t[1]).exp(), t, create_graph=True)
    (row,) = mg.autograd.grad(gt[0], t)  # d/dt of t1 e^(t0 t1)
    e = np.exp(0.6)
    np.testing.assert_allclose(row.numpy(), [1.2 * 1.2 * e, e + 0.6 * e], rtol=1e-12)
