"""autograd.functional: vjp, jvp, vhp, hvp, jacobian and hessian against NumPy central differences
(float64) of independent NumPy versions of the same functions, and against
torch.autograd.functional where torch is installed."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import functional as AF

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 4))
X = RNG.uniform(-1, 1, (2, 3))
Y = RNG.uniform(-1, 1, (3,))


# --------------------------------------------------------------------------- the functions
# each in minigrad (t) and NumPy (np) form; `lib` is minigrad or torch for the parity tests


def vector_fn(x, a):
    """R^(2x3) -> R^(2x4): tanh(x a) * exp(x a / 2), entries mixed by the matmul."""
    z = x @ a
    return z.tanh() * (z * 0.5).exp()


def vector_np(x):
    z = x @ A
    return np.tanh(z) * np.exp(z * 0.5)


def scalar_fn(x, a):
    """R^(2x3) -> R: sum(tanh(x a)^2) + sum(sigmoid(x) * x^3)."""
    return ((x @ a).tanh() ** 2).sum() + (x.sigmoid() * x**3).sum()


def scalar_np(x):
    return np.sum(np.tanh(x @ A) ** 2) + np.sum(x**3 / (1 + np.exp(-x)))


def pair_fn(x, y):
    """Two inputs, one scalar: sum(exp(x * y) / (1 + y^2)) + sum(log(2 + x))."""
    return ((x * y).exp() / (y * y + 1)).sum() + (x + 2).log().sum()


def pair_np(x, y):
    return np.sum(np.exp(x * y) / (y * y + 1)) + np.sum(np.log(2 + x))


def numeric_jacobian(f, x, h=1e-6):
    """d f / d x by central differences: shape f(x).shape + x.shape."""
    columns = []
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = h
        step = step.reshape(x.shape)
        columns.append((f(x + step) - f(x - step)) / (2 * h))
    return np.stack(columns, axis=-1).reshape(np.shape(f(x)) + x.shape)


def numeric_hessian(f, x, h=1e-4):
    """d²f / dx² of a scalar f by the four-point central difference of each pair."""
    n = x.size
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ei = np.zeros(n)
            ej = np.zeros(n)
            ei[i] = h
            ej[j] = h
            ei, ej = ei.reshape(x.shape), ej.reshape(x.shape)
            H[i, j] = f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
    return (H / (4 * h * h)).reshape(x.shape + x.shape)


def on(device, *arrays, requires_grad=False):
    return [mg.tensor(a, device=device, requires_grad=requires_grad) for a in arrays]


def close(tensor, expected, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- finite differences


def test_vjp_and_jvp_match_finite_differences(device):
    a, x = on(device, A, X)
    J = numeric_jacobian(vector_np, X).reshape(8, 6)
    u, v = RNG.standard_normal((2, 4)), RNG.standard_normal((2, 3))
    out, uJ = AF.vjp(lambda t: vector_fn(t, a), x, mg.tensor(u, device=device))
    close(out, vector_np(X), 1e-12, 1e-12)
    close(uJ, (u.reshape(-1) @ J).reshape(2, 3))
    out, Jv = AF.jvp(lambda t: vector_fn(t, a), x, mg.tensor(v, device=device))
    close(Jv, (J @ v.reshape(-1)).reshape(2, 4))
    assert not out.requires_grad and not Jv.requires_grad and not uJ.requires_grad


def test_jacobian_of_a_vector_function(device):
    a, x = on(device, A, X)
    J = AF.jacobian(lambda t: vector_fn(t, a), x)
    assert J.shape == (2, 4, 2, 3) and J.device == device
    close(J, numeric_jacobian(vector_np, X))
    # row i of x only reaches row i of the output
    assert np.all(J.numpy()[0, :, 1] == 0) and np.all(J.numpy()[1, :, 0] == 0)


def test_hessian_matches_finite_differences_and_is_symmetric(device):
    a, x = on(device, A, X)
    H = AF.hessian(lambda t: scalar_fn(t, a), x)
    assert H.shape == (2, 3, 2, 3)
    flat = H.numpy().reshape(6, 6)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-12, atol=1e-12)
    close(H, numeric_hessian(scalar_np, X), rtol=1e-5, atol=1e-6)


def test_hvp_and_vhp_equal_hessian_times_v(device):
    a, x = on(device, A, X)
    v = RNG.standard_normal((2, 3))
    f = lambda t: scalar_fn(t, a)  # noqa: E731
    expected = (AF.hessian(f, x).numpy().reshape(6, 6) @ v.reshape(-1)).reshape(2, 3)
    value, Hv = AF.hvp(f, x, mg.tensor(v, device=device))
    close(value, scalar_np(X), 1e-12, 1e-12)
    close(Hv, expected, 1e-10, 1e-12)
    close(AF.vhp(f, x, mg.tensor(v, device=device))[1], expected, 1e-10, 1e-12)
    numeric = (numeric_hessian(scalar_np, X).reshape(6, 6) @ v.reshape(-1)).reshape(2, 3)
    close(Hv, numeric, rtol=1e-5, atol=1e-6)


def test_two_inputs_give_nested_blocks(device):
    x, y = on(device, X[0], Y)
    H = AF.hessian(pair_fn, (x, y))
    full = numeric_hessian(lambda z: pair_np(z[:3], z[3:]), np.concatenate([X[0], Y]))
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        assert H[i][j].shape == (3, 3)
        close(H[i][j], full[3 * i : 3 * i + 3, 3 * j : 3 * j + 3], rtol=1e-5, atol=1e-6)
    close(H[0][1], H[1][0].numpy().T, 1e-12, 1e-12)
    grads = AF.jacobian(pair_fn, (x, y))
    assert isinstance(grads, tuple) and len(grads) == 2
    close(grads[1], numeric_jacobian(lambda z: pair_np(X[0], z), Y))


# --------------------------------------------------------------------------- semantics


def test_create_graph_results_can_be_differentiated_again(device):
    # f = sum(exp(x)): H = diag(exp(x)), so d(sum H)/dx = exp(x) and d(H v . 1)/dx = v exp(x)
    (x,) = on(device, Y, requires_grad=True)
    H = AF.hessian(lambda t: t.exp().sum(), x, create_graph=True)
    assert H.requires_grad
    (third,) = mg.autograd.grad(H.sum(), x)
    close(third, np.exp(Y), 1e-12, 1e-12)
    v = RNG.standard_normal(3)
    _, Hv = AF.hvp(lambda t: t.exp().sum(), x, mg.tensor(v, device=device), create_graph=True)
    (third,) = mg.autograd.grad(Hv.sum(), x)
    close(third, v * np.exp(Y), 1e-12, 1e-12)
    _, Jv = AF.jvp(lambda t: t.tanh(), x, mg.tensor(v, device=device), create_graph=True)
    (second,) = mg.autograd.grad(Jv.sum(), x)  # d/dx sum(v (1 - tanh^2 x))
    close(second, -2 * v * np.tanh(Y) * (1 - np.tanh(Y) ** 2), 1e-12, 1e-12)


def test_default_leaves_the_callers_graph_alone(device):
    (w,) = on(device, Y, requires_grad=True)
    x = w * 2  # a non-leaf input: its graph must survive and no .grad may change
    H = AF.hessian(lambda t: (t**3).sum(), x)
    assert not H.requires_grad and w.grad is None
    close(H, np.diag(6 * 2 * Y), 1e-12, 1e-12)
    x.sum().backward()
    close(mg.tensor(w.grad), np.full(3, 2.0), 0, 0)


def test_an_input_passed_twice_gets_its_own_gradient(device):
    (x,) = on(device, Y, requires_grad=True)
    for create_graph in (False, True):
        da, db = AF.vjp(lambda a, b: (a * b * b).sum(), (x, x), create_graph=create_graph)[1]
        close(da, Y**2, 1e-12, 1e-12)
        close(db, 2 * Y**2, 1e-12, 1e-12)


def test_works_under_no_grad(device):
    (x,) = on(device, Y, requires_grad=True)
    with mg.no_grad():
        H = AF.hessian(lambda t: (t**3).sum(), x)
        Hc = AF.hessian(lambda t: (t**3).sum(), x, create_graph=True)
    close(H, np.diag(6 * Y), 1e-12, 1e-12)
    assert Hc.requires_grad


def test_independent_inputs_get_zeros_or_raise_when_strict(device):
    x, y = on(device, X[0], Y)
    f = lambda a, b: a.exp().sum()  # noqa: E731
    gx, gy = AF.vjp(f, (x, y))[1]
    close(gx, np.exp(X[0]), 1e-12, 1e-12)
    close(gy, np.zeros(3), 0, 0)
    with pytest.raises(RuntimeError, match="does not depend on input 1.*strict=True"):
        AF.vjp(f, (x, y), strict=True)
    close(AF.hessian(lambda t: (t * 2).sum(), x), np.zeros((3, 3)), 0, 0)  # linear: H = 0
    with pytest.raises(RuntimeError, match="hessian: output 0 .* does not require grad"):
        AF.hessian(lambda t: (t * 2).sum(), x, strict=True)
    constant = mg.tensor(1.0, device=device)
    close(AF.jacobian(lambda t: constant, x), np.zeros(3), 0, 0)
    with pytest.raises(RuntimeError, match="jacobian: output 0 .* does not require grad"):
        AF.jacobian(lambda t: constant, x, strict=True)
    close(AF.jvp(lambda a, b: a.exp(), (x, y), (x, y))[1], np.exp(X[0]) * X[0], 1e-12, 1e-12)


def test_bad_input_raises_a_clear_error(device):
    x, m = on(device, Y, X)
    scalar = lambda t: (t**2).sum()  # noqa: E731
    with pytest.raises(TypeError, match="hvp: inputs must be a Tensor .* given inputs is a list"):
        AF.hvp(scalar, [x], x)
    with pytest.raises(TypeError, match="jacobian: inputs .* value at index 1 is a ndarray"):
        AF.jacobian(scalar, (x, Y))
    with pytest.raises(TypeError, match="vjp: outputs of the function .* is a float"):
        AF.vjp(lambda t: 1.0, x)
    with pytest.raises(RuntimeError, match=r"hvp: v has shape \(2, 3\), expected \(3,\)"):
        AF.hvp(scalar, x, m)
    with pytest.raises(RuntimeError, match=r"jvp: v\[1\] has shape \(3,\), expected \(2, 3\)"):
        AF.jvp(lambda a, b: a.sum() + b.sum(), (x, m), (x, x))
    with pytest.raises(RuntimeError, match="vjp: v holds 1 Tensors, the function's output 2"):
        AF.vjp(lambda t: (t, t), x, x)
    with pytest.raises(RuntimeError, match=r"vjp: v can be None only .* shapes \[\(3,\)\]"):
        AF.vjp(lambda t: t * 2, x)
    with pytest.raises(RuntimeError, match=r"hvp: .* a single element, got shape \(3,\)"):
        AF.hvp(lambda t: t * 2, x, x)
    with pytest.raises(RuntimeError, match=r"hessian: .* a single element, got shape \(2, 3\)"):
        AF.hessian(lambda t: t * 2, m)
    with pytest.raises(RuntimeError, match="vhp: the function must return a single Tensor"):
        AF.vhp(lambda t: (t.sum(),), x, x)


# --------------------------------------------------------------------------- PyTorch parity


def test_same_results_as_torch():
    torch = pytest.importorskip("torch")
    TF = torch.autograd.functional
    ta = torch.from_numpy(A)
    x, a = mg.tensor(X), mg.tensor(A)
    tx = torch.from_numpy(X)
    u, v = RNG.standard_normal((2, 4)), RNG.standard_normal((2, 3))
    tu, tv = torch.from_numpy(u), torch.from_numpy(v)
    pairs = [
        (
            AF.vjp(lambda t: vector_fn(t, a), x, mg.tensor(u))[1],
            TF.vjp(lambda t: vector_fn(t, ta), tx, tu)[1],
        ),
        (
            AF.jvp(lambda t: vector_fn(t, a), x, mg.tensor(v))[1],
            TF.jvp(lambda t: vector_fn(t, ta), tx, tv)[1],
        ),
        (AF.jacobian(lambda t: vector_fn(t, a), x), TF.jacobian(lambda t: vector_fn(t, ta), tx)),
        (AF.hessian(lambda t: scalar_fn(t, a), x), TF.hessian(lambda t: scalar_fn(t, ta), tx)),
        (
            AF.hvp(lambda t: scalar_fn(t, a), x, mg.tensor(v))[1],
            TF.hvp(lambda t: scalar_fn(t, ta), tx, tv)[1],
        ),
        (
            AF.vhp(lambda t: scalar_fn(t, a), x, mg.tensor(v))[1],
            TF.vhp(lambda t: scalar_fn(t, ta), tx, tv)[1],
        ),
    ]
    ours = AF.hessian(pair_fn, (mg.tensor(X[0]), mg.tensor(Y)))
    theirs = TF.hessian(pair_fn, (torch.from_numpy(X[0]), torch.from_numpy(Y)))
    pairs += [(ours[i][j], theirs[i][j]) for i in range(2) for j in range(2)]
    for mine, ref in pairs:
        assert mine.shape == tuple(ref.shape)
        np.testing.assert_allclose(mine.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)
