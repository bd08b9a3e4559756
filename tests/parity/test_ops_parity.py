"""Primitives against PyTorch in float64: values and gradients agree to 1e-7 (skipped without
torch). PyTorch is an optional extra; minigrad never imports it."""

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((4, 5))
P = rng.uniform(0.5, 2.0, (3, 4))
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, -1.0], [0.5, 0.5, 0.5, 0.5]])

CASES = {
    "arith": (lambda a, b: ((a * 2 - b) / (b * b + 1)) ** 2, [A, A.T.copy().T]),
    "exp_log_sqrt": (lambda a: (a.exp() + 1).log() + a.abs().sqrt(), [A]),
    "tanh_sigmoid_relu": (lambda a: a.tanh() * a.sigmoid() + a.relu(), [A]),
    "pow_tensor": (lambda p, a: p**a, [P, A]),
    "clamp": (lambda a: a.clamp(-0.5, 0.7), [A]),
    "reductions": (lambda a: a.sum(0) + a.mean(0) * a.var(0) + a.amax(0), [A]),
    "reduce_keepdim": (lambda a: a.std(1, keepdim=True) * a, [A]),
    "max_min_dim_ties": (lambda a: a.max(1)[0] * 2 + a.min(0, keepdim=True)[0].sum(), [TIES]),
    "matmul": (lambda a, b: a @ b, [A, B]),
    "matmul_vector": (lambda a, v: a @ v, [A, B[:, 0].copy()]),
    "shapes": (lambda a: a.reshape(2, 6).T.permute(1, 0).unsqueeze(0).flatten(), [A]),
    "cat_stack": (
        lambda a: mg.cat([a, a * 2], 1) if isinstance(a, mg.Tensor) else torch.cat([a, a * 2], 1),
        [A],
    ),
    "index": (
        lambda a: (
            a[:, ::2] + a[[0, 0, 2], 1:3] + a[np.array([2, 0, 1]), np.array([1, 1, 3])][:, None]
        ),
        [A],
    ),
}


def to_torch(arrays):
    return [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("name", list(CASES))
def test_matches_pytorch_float64(name, device):
    fn, arrays = CASES[name]
    ours = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = to_torch(arrays)
    out, ref = fn(*ours), fn(*theirs)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-7, atol=1e-10)
    g = rng.standard_normal(ref.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for t, r in zip(ours, theirs):
        np.testing.assert_allclose(mg.tensor(t.grad).numpy(), r.grad.numpy(), rtol=1e-7, atol=1e-10)
