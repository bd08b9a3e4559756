"""Second (and higher) derivatives of every primitive in ops, shape_ops, index_ops, einsum and
of recorded in-place updates: gradgradcheck, the create_graph first derivative against the plain
one, closed forms for third derivatives, planted bugs, and PyTorch parity where installed.
"""

import math

import numpy as np
import pytest
from helpers import on
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import backend, gradgradcheck, index_ops, ops, shape_ops
from minigrad.autograd.graph import namespace
from minigrad.gradcheck import GradcheckError

few = settings(max_examples=5, deadline=None)
small = mt.shapes(max_dims=2, max_side=3)


def host(a):
    return backend.to_host(a.data if isinstance(a, mg.Tensor) else a)


def check(fn, arrays, device):
    """fn is twice differentiable at `arrays` (float64 NumPy arrays) on `device`."""
    gradgradcheck(fn, arrays, device=device)


def squared(op):
    """op(x)**2 by a product: its second derivative involves op's backward at x, not just dout."""

    def fn(*xs):
        y = op(*xs)
        return y * y

    return fn


# --------------------------------------------------------------------------- arithmetic

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", list(BINARY))
@few
@given(data=st.data())
def test_binary_broadcasting(name, data, device):
    sa, sb = data.draw(mt.broadcastable_shapes(2, max_dims=2, max_side=3))
    a = data.draw(mt.arrays(sa))
    b = data.draw(mt.arrays(sb, 0.5, 3.0))
    check(squared(BINARY[name]), [a, b], device)
    check(BINARY[name], [a, b], device)


@few
@given(data=st.data(), p=st.sampled_from([2, 3, -1, 0.5, 1.5]))
def test_pow_with_scalar_and_array_operands(data, p, device):
    shape = data.draw(small)
    a = data.draw(mt.arrays(shape, 0.3, 2.0))
    b = data.draw(mt.arrays(shape, -1.5, 1.5))
    base = np.full(shape, 1.7)
    check(lambda x: x**p, [a], device)
    check(lambda y: 2.0**y, [b], device)
    check(lambda y: 3**y, [b], device)
    check(lambda y: base**y, [b], device)  # a base given as an array is a constant
    check(lambda x, y: x**y, [a, b], device)
    check(lambda x: -x * x, [a], device)


SMOOTH = {
    "exp": (lambda t: t.exp(), (-2, 2)),
    "log": (lambda t: t.log(), (0.2, 3)),
    "sqrt": (lambda t: t.sqrt(), (0.2, 3)),
    "tanh": (lambda t: t.tanh(), (-2, 2)),
    "sigmoid": (lambda t: t.sigmoid(), (-4, 4)),
}


@pytest.mark.parametrize("name", list(SMOOTH))
@few
@given(data=st.data())
def test_smooth_unary(name, data, device):
    op, bounds = SMOOTH[name]
    check(op, [data.draw(mt.arrays(small, *bounds))], device)


KINKED = {
    "abs": (lambda t: t.abs(), (0.0,)),
    "relu": (lambda t: t.relu(), (0.0,)),
    "clamp": (lambda t: t.clamp(-1, 0.5), (-1.0, 0.5)),
    "clamp_min": (lambda t: t.clamp(min=0.3), (0.3,)),
}


@pytest.mark.parametrize("name", list(KINKED))
@few
@given(data=st.data())
def test_kinked_unary_away_from_kinks(name, data, device):
    op, kinks = KINKED[name]
    x = data.draw(mt.arrays(small, kinks=kinks))
    check(lambda t: op(t) * t, [x], device)  # d2/dx2 = 2 * (the op's slope)


@few
@given(data=st.data())
def test_maximum_minimum_where(data, device):
    values = data.draw(mt.distinct_arrays(data.draw(small) + (2,)))
    a, b = values[..., 0], values[..., 1]
    check(lambda x, y: mg.maximum(x, y) * x, [a, b], device)
    check(lambda x, y: mg.minimum(x, y) * y, [a, b], device)
    check(lambda x, y: mg.where(a > b, x * y, y * y), [a, b], device)


@few
@given(shapes=mt.matmul_shapes(max_batch_dims=1, max_side=3), data=st.data())
def test_matmul_including_vectors(shapes, data, device):
    a = data.draw(mt.arrays(shapes[0]))
    b = data.draw(mt.arrays(shapes[1]))
    check(lambda x, y: x @ y, [a, b], device)
    check(squared(lambda x, y: x @ y), [a, b], device)


def test_matmul_with_vector_operands(device):
    """MatMul saves its inputs and promotes a vector again in backward (not a saved view)."""
    rng = np.random.default_rng(0)
    for shapes in [((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)), ((2, 1, 3), (3,))]:
        check(squared(lambda x, y: x @ y), [rng.standard_normal(s) for s in shapes], device)


# --------------------------------------------------------------------------- reductions


@st.composite
def array_and_dim(draw, distinct=False):
    shape = draw(mt.shapes(min_dims=1, max_dims=3, max_side=3))
    x = draw(mt.distinct_arrays(shape) if distinct else mt.arrays(shape))
    dim = draw(st.sampled_from([None, 0, -1, tuple(sorted({0, len(shape) - 1}))]))
    return x, dim, draw(st.booleans())


@few
@given(case=array_and_dim())
def test_sum_mean(case, device):
    x, dim, keep = case
    check(squared(lambda t: t.sum(dim, keep)), [x], device)
    check(squared(lambda t: t.mean(dim, keep)), [x], device)


@few
@given(case=array_and_dim(distinct=True), correction=st.sampled_from([0, 1]))
def test_var_std(case, correction, device):
    x, dim, keep = case
    n = x.size if dim is None else np.prod([x.shape[d] for d in np.atleast_1d(dim)])
    correction = min(correction, int(n) - 1)
    check(lambda t: t.var(dim, keepdim=keep, correction=correction), [x], device)
    if n > 1:  # std = sqrt(var) has no derivative where var = 0 (distinct values: var > 0)
        check(lambda t: t.std(dim, keepdim=keep, correction=correction), [x], device)


@few
@given(case=array_and_dim(distinct=True))
def test_amax_amin(case, device):
    x, dim, keep = case
    check(squared(lambda t: t.amax(dim, keep)), [x], device)
    check(squared(lambda t: t.amin(dim, keep)), [x], device)


# --------------------------------------------------------------------------- shapes


@few
@given(x=mt.arrays(mt.shapes(1, 3, max_side=3)), data=st.data())
def test_shape_ops(x, data, device):
    perm = tuple(data.draw(st.permutations(list(range(x.ndim)))))
    dim = data.draw(st.integers(0, x.ndim - 1))
    cases = [
        lambda t: t.reshape(-1),
        lambda t: t.permute(perm),
        lambda t: t.transpose(0, -1).unsqueeze(1),
        lambda t: t.unsqueeze(0).expand(2, *x.shape),
        lambda t: mg.cat([t, t * t], dim),
        lambda t: mg.stack([t, -t], dim),
        lambda t: mg.pad(t, [1, 2], 0.5),
        lambda t: t.flip([dim]),
        lambda t: t.roll(2, dim),
        lambda t: t.clone(),
        lambda t: t.repeat(*([2] * x.ndim)),
    ]
    for op in cases:
        check(squared(op), [x], device)


def test_to_another_device(device):
    other = "strict" if device == "cpu" else "cpu"
    x = np.random.default_rng(0).uniform(-2, 2, (2, 3))
    check(lambda t: (t.to(other) ** 3).to(device), [x], device)


def test_to_another_dtype_has_the_closed_form_second_derivative(device):
    x0 = np.array([0.5, -1.0, 2.0])
    (x,) = on(device, x0, requires_grad=True)
    (g,) = mg.autograd.grad((x.float() ** 3).sum(), x, create_graph=True)
    assert g.dtype == "float64" and g.requires_grad
    (h,) = mg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(host(h), 6 * x0, rtol=1e-6)


# --------------------------------------------------------------------------- indexing


@few
@given(x=mt.arrays(mt.shapes(2, 3, min_side=2, max_side=3)), data=st.data())
def test_basic_indexing(x, data, device):
    start = data.draw(st.integers(0, x.shape[0] - 1))
    for index in [(start,), (slice(start, None),), (slice(None), -1), (None, Ellipsis, 0)]:
        check(squared(lambda t, i=index: t[i]), [x], device)


@few
@given(x=mt.arrays(mt.shapes(1, 3, max_side=3)), data=st.data())
def test_advanced_indexing_with_repeats_and_masks(x, data, device):
    n = x.shape[0]
    ids = np.asarray(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5)))
    check(squared(lambda t: t[ids]), [x], device)
    mask = np.arange(n) % 2 == 0
    check(squared(lambda t: t[mask]), [x], device)
    if x.ndim >= 2:
        cols = np.asarray([data.draw(st.integers(0, x.shape[1] - 1)) for _ in ids])
        check(squared(lambda t: t[ids, cols]), [x], device)
        check(squared(lambda t: t[ids, 1:]), [x], device)


@st.composite
def index_along(draw, shape, dim):
    """An index for gather/scatter along dim: shape <= `shape`, ids in range (repeats allowed)."""
    sides = [draw(st.integers(1, n)) for n in shape]
    count = math.prod(sides)
    ids = draw(st.lists(st.integers(0, shape[dim] - 1), min_size=count, max_size=count))
    return np.asarray(ids).reshape(sides)


@few
@given(x=mt.arrays(mt.shapes(1, 2, max_side=3)), data=st.data())
def test_gather_scatter_scatter_add(x, data, device):
    dim = data.draw(st.integers(0, x.ndim - 1))
    index = data.draw(index_along(x.shape, dim))
    src = data.draw(mt.arrays(index.shape))
    check(squared(lambda t: mg.gather(t, dim, index)), [x], device)
    check(lambda t, s: mg.scatter(t * t, dim, index, s * t.sum()), [x, src], device)
    check(lambda t: mg.scatter(t * t, dim, index, value=1.5), [x], device)
    check(lambda t, s: mg.scatter_add(t * t, dim, index, s * s), [x, src], device)


@few
@given(x=mt.arrays((3, 2)), v=mt.arrays((2,)))
def test_index_put_masked_fill(x, v, device):
    ids = np.array([2, 0, 2])
    mask = np.array([True, False, True])
    check(lambda t, u: ops.index_put(t * t, (1,), u * u), [x, v], device)
    check(lambda t, u: ops.index_put(t * t, ids, u * t[0]), [x, v], device)
    check(lambda t, u: ops.index_put(t * t, mask, u * u), [x, v], device)
    check(lambda t: mg.masked_fill(t * t, mask[:, None], 0.5), [x], device)


@few
@given(x=mt.distinct_arrays((2, 4)), k=st.integers(1, 4))
def test_sort_topk_values(x, k, device):
    check(squared(lambda t: t.sort(1, descending=True).values), [x], device)
    check(squared(lambda t: t.topk(k, 1, largest=False).values), [x], device)


# --------------------------------------------------------------------------- einsum

EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 2)]),
    ("ij,j->i", [(2, 3), (3,)]),
    ("i,j,k->ijk", [(2,), (3,), (2,)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("bij,bj->bi", [(2, 2, 3), (1, 3)]),  # b has size 1 in the second operand: it broadcasts
    ("...i,i", [(2, 3), (3,)]),
]


@pytest.mark.parametrize("equation, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
@few
@given(data=st.data())
def test_einsum(equation, shapes, data, device):
    arrays = [data.draw(mt.arrays(s)) for s in shapes]
    check(lambda *ts: mg.einsum(equation, *ts), arrays, device)
    check(squared(lambda *ts: mg.einsum(equation, *ts)), arrays, device)


def test_graph_namespace_take_along_any_axis(device):
    ids = backend.to_device(np.array([2, 0, 2]), device)
    x = np.random.default_rng(0).standard_normal((3, 4))
    for axis in (None, 0, 1, -1):
        y = namespace.take(mg.tensor(x, device=device), ids, axis=axis)
        np.testing.assert_array_equal(y.numpy(), np.take(x, [2, 0, 2], axis=axis))
        check(squared(lambda t, a=axis: namespace.take(t, ids, axis=a)), [x], device)


def test_einsum_of_one_operand_twice(device):
    x = np.random.default_rng(0).standard_normal((2, 3))
    check(lambda t: mg.einsum("ij,ij->i", t, t), [x], device)


# --------------------------------------------------------------------------- in-place updates


def scaled_row(h):
    h = h * 1.0
    h[0] = h[0] * 3  # the update reads what it overwrites
    return h * h


def arithmetic_updates(h, v):
    h = h * 1.0
    h.add_(v * v)
    h.mul_(v)
    h.sub_(v, alpha=2)
    h.div_(v * v + 1)
    h.neg_()
    h.clamp_(-1.5, 1.5)
    return h * h


def writes_by_index(h, v):
    h = h * h
    h[np.array([1, 1])] = v
    h.masked_fill_(np.array([True, False, False]), 0.5)
    h[:, 2] = v[:, 0] * h[:, 1]
    return h * v


def scatters_and_copies(h, v):
    h = h * h
    h.scatter_add_(1, np.array([[0, 0], [1, 2]]), v[:, :2] * v[:, :2])
    h.scatter_(1, np.array([[2], [0]]), v[:, :1])
    h.copy_(h * v)
    g = v * 1.0
    g.fill_(2.0)
    return h * h + g * v


@pytest.mark.parametrize(
    "fn", [scaled_row, arithmetic_updates, writes_by_index, scatters_and_copies]
)
@few
@given(h=mt.arrays((2, 3), -1.0, 1.0), v=mt.arrays((2, 3), 0.5, 1.0))
def test_recorded_inplace_updates(fn, h, v, device):
    if fn is scaled_row:
        check(fn, [h], device)
    else:
        check(fn, [h, v], device)


def test_inplace_update_after_an_integer_array_write(device):
    """x[ids] = v leaves a reshape of a scatter as x's node: a new array, not a view of any
    tensor, so a second update in the graph is allowed."""
    x, v = on(device, np.ones((2, 2)), np.array([2.0, 3.0]), requires_grad=True)
    h = x * 1.0
    h[np.array([0])] = v
    h.mul_(v)
    (h * h).sum().backward()
    # row 0 ends as v * v, row 1 as 1 * v: L = sum(v**4 + v**2)
    np.testing.assert_allclose(host(v.grad), [4 * 8 + 2 * 2, 4 * 27 + 2 * 3])


# --------------------------------------------------------------------------- higher orders


def derivatives(fn, x0, order, device):
    """The first `order` derivatives of sum(fn(x)) at x0, each differentiated again."""
    (x,) = on(device, x0, requires_grad=True)
    y = fn(x).sum()
    found = []
    for k in range(order):
        (y,) = mg.autograd.grad(y, x, create_graph=k < order - 1)
        found.append(host(y))
        y = y.sum()
    return found


def test_third_and_fourth_derivatives_in_closed_form(device):
    x0 = np.array([-1.3, -0.2, 0.4, 1.1])
    t = np.tanh(x0)
    tanh_expected = [1 - t**2, -2 * t * (1 - t**2), (1 - t**2) * (6 * t**2 - 2)]
    for got, want in zip(derivatives(lambda x: x.tanh(), x0, 3, device), tanh_expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    for got in derivatives(lambda x: x.exp(), x0, 4, device):
        np.testing.assert_allclose(got, np.exp(x0), rtol=1e-12)
    p, z0 = 3.5, x0 + 2
    pow_expected = [p * z0 ** (p - 1), p * (p - 1) * z0 ** (p - 2)]
    pow_expected.append(p * (p - 1) * (p - 2) * z0 ** (p - 3))
    for got, want in zip(derivatives(lambda x: x**p, z0, 3, device), pow_expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_third_derivative_through_indexing(device):
    """x[ids]**3: a gather, its scatter-add backward, then that one's gather backward; x[1:]:
    a slice, whose backward writes dout into zeros by a recorded in-place update."""
    x0 = np.array([0.5, -1.0, 2.0])
    ids = np.array([2, 0, 2])
    hits = {"ids": np.array([1.0, 0.0, 2.0]), "slice": np.array([0.0, 1.0, 1.0])}
    cubes = {"ids": lambda x: x[ids] ** 3, "slice": lambda x: x[1:] ** 3}
    for name, counts in hits.items():
        expected = [3 * counts * x0**2, 6 * counts * x0, 6 * counts]
        for got, want in zip(derivatives(cubes[name], x0, 3, device), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_zero_dim_output_saved_by_forward_keeps_its_graph(device):
    """NumPy ufuncs return scalars for 0-d arrays; sqrt saves its output y, which must still be
    known as the output (a norm: the gradient penalty's usual shape)."""
    x0 = np.array([0.6, -0.8, 1.2])
    check(lambda t: (t * t).sum().sqrt(), [x0], device)
    check(lambda t: t.sum().exp() + t.sum().tanh() + 1 / t.sum(), [x0], device)


# --------------------------------------------------------------------------- planted bugs


def _detached(value):
    return mg.Tensor(value.data) if isinstance(value, mg.Tensor) else value


def test_a_detached_saved_output_is_caught(device, monkeypatch):
    def backward(self, dout):
        y = _detached(self.y)  # under create_graph the output's graph is lost
        return (dout * (1 - y * y),)

    monkeypatch.setattr(ops.Tanh, "backward", backward)
    x = np.array([0.3, -0.8])
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda t: t.tanh(), [x], device=device)


def test_a_detached_scatter_in_a_gather_backward_is_caught(device, monkeypatch):
    plain = index_ops._add_rows
    monkeypatch.setattr(index_ops, "_add_rows", lambda out, f, v: plain(out, f, _detached(v)))
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(GradcheckError):
        gradgradcheck(squared(lambda t: t[np.array([2, 0, 2])]), [x], device=device)


def test_a_wrong_reference_is_caught_by_the_first_derivative_check(device, monkeypatch):
    """A reference that is wrong but differentiable gives a consistent create_graph path: the
    second-order check alone would pass it, so gradgradcheck compares the first derivative
    with the plain backward's."""
    monkeypatch.setattr(
        shape_ops.Var, "reference", lambda x, axes, keepdim, correction: (x * x).mean()
    )
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(GradcheckError, match="differs from the plain backward"):
        gradgradcheck(lambda t: t.var(), [x], device=device)


# --------------------------------------------------------------------------- PyTorch parity


def test_hessian_vector_products_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    ids = np.array([3, 1, 1])

    def f(lib, x, w):
        h = lib.tanh(x @ w)[ids]
        spread = h.var(0) + lib.gather(h, 1, lib_index(lib, [[1], [0], [1]])).sum()
        peak = lib.amax(lib.relu(h), 0)
        return (spread * peak).sum() + lib.einsum("ij,jk->", x, w)

    def lib_index(lib, ids):
        return np.array(ids) if lib is mg else torch.tensor(ids)

    ours = [mg.tensor(a, dtype="float64", requires_grad=True) for a in (x0, w0)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x0, w0)]
    vs = [rng.standard_normal(a.shape) for a in (x0, w0)]
    g = mg.autograd.grad(f(mg, *ours), ours, create_graph=True)
    hv = mg.autograd.grad(sum((a * v).sum() for a, v in zip(g, vs)), ours)
    gt = torch.autograd.grad(f(torch, *theirs), theirs, create_graph=True)
    hvt = torch.autograd.grad(sum((a * torch.tensor(v)).sum() for a, v in zip(gt, vs)), theirs)
    for mine, ref in zip(list(g) + list(hv), list(gt) + list(hvt)):
        np.testing.assert_allclose(host(mine), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
