"""Every primitive in minigrad/ops.py: forward against NumPy, backward through gradcheck."""

import numpy as np
import pytest
from helpers import assert_forward, on
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import gradcheck

small = mt.shapes(max_dims=3, max_side=4)


# --------------------------------------------------------------------------- arithmetic

BINARY = [
    (lambda a, b: a + b, np.add),
    (lambda a, b: a - b, np.subtract),
    (lambda a, b: a * b, np.multiply),
]


@pytest.mark.parametrize("op, ref", BINARY)
@given(data=st.data())
def test_binary_broadcasting(op, ref, data, device):
    sa, sb = data.draw(mt.broadcastable_shapes(2, max_dims=3, max_side=3))
    a = data.draw(mt.arrays(sa))
    b = data.draw(mt.arrays(sb))
    assert_forward(op, ref, [a, b], device)
    gradcheck(op, [a, b], device=device)


@given(data=st.data())
def test_div(data, device):
    sa, sb = data.draw(mt.broadcastable_shapes(2, max_dims=3, max_side=3))
    a = data.draw(mt.arrays(sa))
    b = data.draw(mt.arrays(sb, 0.5, 3.0))
    assert_forward(lambda x, y: x / y, np.divide, [a, b], device)
    gradcheck(lambda x, y: x / y, [a, b], device=device)


@given(x=mt.arrays(small), s=st.floats(-2, 2))
def test_python_scalars_on_either_side(x, s, device):
    for op, ref in [
        (lambda t: t + s, lambda v: v + s),
        (lambda t: s - t, lambda v: s - v),
        (lambda t: t * s, lambda v: v * s),
        (lambda t: s * t, lambda v: s * v),
        (lambda t: -t, lambda v: -v),
    ]:
        assert_forward(op, ref, [x], device)
        gradcheck(op, [x], device=device)


@given(x=mt.arrays(small, 0.2, 3.0), p=st.sampled_from([2, 3, -1, 0.5, 1.5]))
def test_pow_scalar_exponent(x, p, device):
    assert_forward(lambda t: t**p, lambda v: v**p, [x], device)
    gradcheck(lambda t: t**p, [x], device=device)


@given(data=st.data())
def test_pow_tensor_exponent_and_rpow(data, device):
    shape = data.draw(small)
    a = data.draw(mt.arrays(shape, 0.2, 3.0))
    b = data.draw(mt.arrays(shape, -2.0, 2.0))
    assert_forward(lambda x, y: x**y, np.power, [a, b], device)
    gradcheck(lambda x, y: x**y, [a, b], device=device)
    gradcheck(lambda y: 2.0**y, [b], device=device)


# --------------------------------------------------------------------------- elementwise

SMOOTH = [
    ("exp", lambda t: t.exp(), np.exp, (-3, 3)),
    ("log", lambda t: t.log(), np.log, (0.1, 5)),
    ("sqrt", lambda t: t.sqrt(), np.sqrt, (0.1, 5)),
    ("tanh", lambda t: t.tanh(), np.tanh, (-3, 3)),
    ("sigmoid", lambda t: t.sigmoid(), lambda v: 1 / (1 + np.exp(-v)), (-5, 5)),
]


@pytest.mark.parametrize("name, op, ref, bounds", SMOOTH, ids=[s[0] for s in SMOOTH])
@given(data=st.data())
def test_smooth_unary(name, op, ref, bounds, data, device):
    x = data.draw(mt.arrays(small, *bounds))
    assert_forward(op, ref, [x], device)
    gradcheck(op, [x], device=device)


KINKED = [
    ("abs", lambda t: t.abs(), np.abs, (0.0,)),
    ("relu", lambda t: t.relu(), lambda v: np.maximum(v, 0), (0.0,)),
    ("clamp", lambda t: t.clamp(-1, 0.5), lambda v: np.clip(v, -1, 0.5), (-1.0, 0.5)),
    ("clamp_min", lambda t: t.clamp(min=0.3), lambda v: np.maximum(v, 0.3), (0.3,)),
]


@pytest.mark.parametrize("name, op, ref, kinks", KINKED, ids=[k[0] for k in KINKED])
@given(data=st.data())
def test_kinked_unary_away_from_kinks(name, op, ref, kinks, data, device):
    x = data.draw(mt.arrays(small, kinks=kinks))
    assert_forward(op, ref, [x], device)
    gradcheck(op, [x], device=device)


def test_sigmoid_is_stable_for_huge_logits(device):
    x = mg.tensor([-1e4, 0.0, 1e4], device=device)
    with np.errstate(all="raise"):
        np.testing.assert_allclose(x.sigmoid().numpy(), [0.0, 0.5, 1.0])


@given(data=st.data())
def test_maximum_minimum(data, device):
    shape = data.draw(small)
    values = data.draw(mt.distinct_arrays(shape + (2,)))
    a, b = values[..., 0], values[..., 1]
    assert_forward(mg.maximum, np.maximum, [a, b], device)
    assert_forward(mg.minimum, np.minimum, [a, b], device)
    gradcheck(mg.maximum, [a, b], device=device)
    gradcheck(mg.minimum, [a, b], device=device)


def test_maximum_splits_ties_in_halves(device):
    a, b = on(device, np.array([1.0, 2.0]), np.array([1.0, 0.0]), requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_allclose(mg.tensor(a.grad).numpy(), [0.5, 1.0])
    np.testing.assert_allclose(mg.tensor(b.grad).numpy(), [0.5, 0.0])


@given(data=st.data())
def test_where(data, device):
    shape = data.draw(small)
    a = data.draw(mt.arrays(shape))
    b = data.draw(mt.arrays(shape))
    cond = a > b
    assert_forward(
        lambda x, y: mg.where(cond, x, y), lambda x, y: np.where(cond, x, y), [a, b], device
    )
    gradcheck(lambda x, y: mg.where(cond, x, y), [a, b], device=device)


# --------------------------------------------------------------------------- reductions


@st.composite
def array_and_dim(draw, min_dims=1, distinct=False):
    shape = draw(mt.shapes(min_dims=min_dims, max_dims=3, max_side=4))
    x = draw(mt.distinct_arrays(shape) if distinct else mt.arrays(shape))
    dims = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=2))
    axes = tuple(sorted({d % len(shape) for d in dims}))
    dim = draw(st.sampled_from([None, axes, axes[0] - len(shape)]))
    return x, dim, draw(st.booleans())


def _np_axis(dim):
    return dim


@given(case=array_and_dim())
def test_sum_mean(case, device):
    x, dim, keep = case
    assert_forward(lambda t: t.sum(dim, keep), lambda v: np.sum(v, dim, keepdims=keep), [x], device)
    assert_forward(
        lambda t: t.mean(dim, keep), lambda v: np.mean(v, dim, keepdims=keep), [x], device
    )
    gradcheck(lambda t: t.sum(dim, keep), [x], device=device)
    gradcheck(lambda t: t.mean(dim, keep), [x], device=device)


@given(case=array_and_dim(), correction=st.sampled_from([0, 1]))
def test_var_std(case, correction, device):
    x, dim, keep = case
    n = x.size if dim is None else np.prod([x.shape[d] for d in np.atleast_1d(dim)])
    correction = min(correction, int(n) - 1)
    assert_forward(
        lambda t: t.var(dim, keepdim=keep, correction=correction),
        lambda v: np.var(v, dim, keepdims=keep, ddof=correction),
        [x],
        device,
    )
    gradcheck(lambda t: t.var(dim, keepdim=keep, correction=correction), [x], device=device)


@given(case=array_and_dim(distinct=True))
def test_amax_amin(case, device):
    x, dim, keep = case
    assert_forward(
        lambda t: t.amax(dim, keep), lambda v: np.max(v, dim, keepdims=keep), [x], device
    )
    assert_forward(
        lambda t: t.amin(dim, keep), lambda v: np.min(v, dim, keepdims=keep), [x], device
    )
    gradcheck(lambda t: t.amax(dim, keep), [x], device=device)
    gradcheck(lambda t: t.amin(dim, keep), [x], device=device)


def test_amax_splits_gradient_among_ties(device):
    (x,) = on(device, np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    x.amax(1).sum().backward()
    np.testing.assert_allclose(mg.tensor(x.grad).numpy(), [[0, 0.5, 0.5], [0.5, 0, 0.5]])


def test_max_with_dim_returns_values_and_indices(device):
    (x,) = on(device, np.array([[1.0, 5.0, 3.0], [7.0, 0.0, 2.0]]))
    values, indices = x.max(1)
    np.testing.assert_array_equal(values.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert x.max().item() == 7.0 and x.min().item() == 0.0


@pytest.mark.parametrize("keep", [False, True])
def test_max_min_with_dim_send_the_gradient_to_the_returned_index(keep, device):
    """max(x, dim) as in PyTorch: ties give their whole gradient to the index returned (the
    first), unlike amax; and a 0-d tensor is its own maximum, at index 0."""
    data = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    for name, expected in (("max", [[0, 2, 0], [3, 0, 0]]), ("min", [[2, 0, 0], [0, 3, 0]])):
        (x,) = on(device, data, requires_grad=True)
        values, indices = getattr(x, name)(1, keep)
        (w,) = on(device, np.array([[2.0], [3.0]]) if keep else np.array([2.0, 3.0]))
        (values * w).sum().backward()
        np.testing.assert_allclose(mg.tensor(x.grad).numpy(), expected, err_msg=name)
        assert values.shape == indices.shape == ((2, 1) if keep else (2,))
        want = [[1], [0]] if name == "max" else [[0], [1]]
        np.testing.assert_array_equal(indices.numpy().reshape(2, 1), want)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        x.max(2)
    with pytest.raises(ValueError, match="empty dimension"):
        mg.zeros(2, 0, device=device).min(1)
    (scalar,) = on(device, np.array(4.0), requires_grad=True)
    value, index = scalar.max(0)
    value.backward()
    assert value.item() == 4.0 and index.item() == 0 and float(mg.tensor(scalar.grad).item()) == 1.0


def test_reduction_rejects_bad_dim(device):
    (x,) = on(device, np.zeros((2, 3)))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        x.sum(2)


# --------------------------------------------------------------------------- shapes


@given(x=mt.arrays(mt.shapes(1, 4, max_side=4)), data=st.data())
def test_reshape_flatten_permute_transpose(x, data, device):
    perm = tuple(data.draw(st.permutations(list(range(x.ndim)))))
    i, j = data.draw(st.integers(0, x.ndim - 1)), data.draw(st.integers(0, x.ndim - 1))
    cases = [
        (lambda t: t.reshape(-1), lambda v: v.reshape(-1)),
        (lambda t: t.reshape(x.size, 1), lambda v: v.reshape(x.size, 1)),
        (lambda t: t.flatten(), lambda v: v.reshape(-1)),
        (lambda t: t.permute(perm), lambda v: np.transpose(v, perm)),
        (lambda t: t.transpose(i, j), lambda v: np.swapaxes(v, i, j)),
        (lambda t: t.unsqueeze(1).squeeze(1), lambda v: v),
        (lambda t: t.T, lambda v: v.T),
    ]
    for op, ref in cases:
        assert_forward(op, ref, [x], device)
        gradcheck(op, [x], device=device)


@given(data=st.data())
def test_expand(data, device):
    shape, target = data.draw(mt.broadcastable_shapes(2, max_dims=3, max_side=3))
    full = np.broadcast_shapes(shape, target)
    x = data.draw(mt.arrays(shape))
    assert_forward(lambda t: t.expand(full), lambda v: np.broadcast_to(v, full), [x], device)
    gradcheck(lambda t: t.expand(full), [x], device=device)


def test_expand_keeps_dims_given_as_minus_one(device):
    (x,) = on(device, np.zeros((3, 1)))
    assert x.expand(2, -1, 4).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="cannot broadcast"):
        x.expand(2, 4)


@given(data=st.data())
def test_cat_and_stack(data, device):
    shape = data.draw(mt.shapes(1, 3, max_side=3))
    dim = data.draw(st.integers(0, len(shape) - 1))
    arrays = [data.draw(mt.arrays(shape)) for _ in range(3)]
    cat_ref = lambda *v: np.concatenate(v, dim)  # noqa: E731
    stack_ref = lambda *v: np.stack(v, dim)  # noqa: E731
    assert_forward(lambda *t: mg.cat(t, dim), cat_ref, arrays, device)
    assert_forward(lambda *t: mg.stack(t, dim), stack_ref, arrays, device)
    gradcheck(lambda *t: mg.cat(t, dim), arrays, device=device)
    gradcheck(lambda *t: mg.stack(t, dim), arrays, device=device)


@given(
    x=mt.arrays(mt.shapes(2, 3, max_side=3)),
    pads=st.lists(st.integers(0, 2), min_size=4, max_size=4),
)
def test_pad_follows_pytorch_order(x, pads, device):
    def ref(v):
        widths = [(0, 0)] * (v.ndim - 2) + [(pads[2], pads[3]), (pads[0], pads[1])]
        return np.pad(v, widths, constant_values=0.5)

    assert_forward(lambda t: mg.pad(t, pads, 0.5), ref, [x], device)
    gradcheck(lambda t: mg.pad(t, pads, 0.5), [x], device=device)


# --------------------------------------------------------------------------- indexing


@given(x=mt.arrays(mt.shapes(2, 3, min_side=2, max_side=4)), data=st.data())
def test_basic_indexing(x, data, device):
    start = data.draw(st.integers(0, x.shape[0] - 1))
    step = data.draw(st.integers(1, 2))
    cases = [
        lambda v: v[start],
        lambda v: v[start::step],
        lambda v: v[:, -1],
        lambda v: v[..., ::step],
        lambda v: v[None, start:],
    ]
    for case in cases:
        assert_forward(case, case, [x], device)
        gradcheck(case, [x], device=device)


@given(x=mt.arrays(mt.shapes(1, 3, max_side=4)), data=st.data())
def test_integer_array_indexing_with_repeats(x, data, device):
    n = x.shape[0]
    ids = np.asarray(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6)))
    assert_forward(lambda t: t[ids], lambda v: v[ids], [x], device)
    gradcheck(lambda t: t[ids], [x], device=device)
    if x.ndim >= 2:
        cols = np.asarray([data.draw(st.integers(0, x.shape[1] - 1)) for _ in ids])
        assert_forward(lambda t: t[ids, cols], lambda v: v[ids, cols], [x], device)
        gradcheck(lambda t: t[ids, cols], [x], device=device)


def test_repeated_indices_accumulate(device):
    (x,) = on(device, np.arange(4.0), requires_grad=True)
    x[np.array([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(mg.tensor(x.grad).numpy(), [0, 3, 0, 1])


@given(x=mt.arrays(mt.shapes(1, 3, max_side=4)), data=st.data())
def test_host_boolean_mask(x, data, device):
    mask = np.asarray(data.draw(st.lists(st.booleans(), min_size=x.shape[0], max_size=x.shape[0])))
    assert_forward(lambda t: t[mask], lambda v: v[mask], [x], device)
    if mask.any():
        gradcheck(lambda t: t[mask], [x], device=device)


def test_index_out_of_range_raises(device):
    (x,) = on(device, np.zeros((3, 2)))
    with pytest.raises(IndexError, match="index 3 is out of range for size 3"):
        x[np.array([0, 3])]


# --------------------------------------------------------------------------- matmul


@given(shapes=mt.matmul_shapes(), data=st.data())
def test_matmul(shapes, data, device):
    a = data.draw(mt.arrays(shapes[0]))
    b = data.draw(mt.arrays(shapes[1]))
    assert_forward(lambda x, y: x @ y, np.matmul, [a, b], device)
    gradcheck(lambda x, y: x @ y, [a, b], device=device)


def test_matmul_shape_mismatch_names_both_shapes(device):
    a, b = on(device, np.zeros((2, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        a @ b


def test_to_changes_dtype_and_keeps_graph(device):
    (x,) = on(device, np.array([1.0, 2.0]), requires_grad=True)
    y = x.float()
    assert y.dtype == "float32"
    (y * 3).sum().backward()
    assert mg.tensor(x.grad).dtype == "float64"
    np.testing.assert_array_equal(mg.tensor(x.grad).numpy(), [3.0, 3.0])


@given(x=mt.arrays(mt.shapes(1, 3, max_side=4)), data=st.data())
def test_flip_roll_repeat_tile_clone(x, data, device):
    dims = tuple(data.draw(st.sets(st.integers(0, x.ndim - 1), min_size=1)))
    shifts = tuple(data.draw(st.integers(-5, 5)) for _ in dims)
    reps = tuple(data.draw(st.integers(1, 3)) for _ in range(x.ndim + data.draw(st.integers(0, 1))))
    cases = [
        (lambda t: t.flip(dims), lambda v: np.flip(v, dims)),
        (lambda t: t.roll(shifts, dims), lambda v: np.roll(v, shifts, dims)),
        (lambda t: t.roll(shifts[0]), lambda v: np.roll(v, shifts[0])),
        (lambda t: t.repeat(*reps), lambda v: np.tile(v, reps)),
        (lambda t: t.tile(reps[-1:]), lambda v: np.tile(v, reps[-1:])),
        (lambda t: t.clone(), lambda v: v.copy()),
    ]
    for op, ref in cases:
        assert_forward(op, ref, [x], device)
        gradcheck(op, [x], device=device)


def test_clone_is_a_new_array_and_contiguous_is_self(device):
    (x,) = on(device, np.ones(2))
    y = x.clone()
    y[0] = 5.0
    assert x.tolist() == [1.0, 1.0]
    assert x.contiguous() is x


def test_repeat_needs_a_count_per_dim(device):
    with pytest.raises(ValueError, match="count >= 0 for each of the 2 dims"):
        mg.zeros(2, 3, device=device).repeat(2)


@given(case=array_and_dim(), unbiased=st.booleans())
def test_var_std_unbiased_spelling(case, unbiased, device):
    x, dim, keep = case
    n = x.size if dim is None else np.prod([x.shape[d] for d in np.atleast_1d(dim)])
    if n < 2:
        return
    ddof = int(unbiased)
    assert_forward(
        lambda t: t.std(dim, unbiased, keep),
        lambda v: np.std(v, dim, keepdims=keep, ddof=ddof),
        [x],
        device,
    )
    with pytest.raises(TypeError, match="not both"):
        on(device, x)[0].var(dim, unbiased, correction=1)


EINSUMS = [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("bij->j", [(2, 3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("...ij,...j->...i", [(2, 3, 4), (2, 4)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("bij,bj->bi", [(2, 2, 3), (1, 3)]),  # a letter of size 1 in one operand broadcasts
    (",ij->ij", [(), (2, 3)]),  # a 0-d operand has the empty subscript
]


@pytest.mark.parametrize("equation, shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
@given(data=st.data())
def test_einsum(equation, shapes, data, device):
    arrays = [data.draw(mt.arrays(s)) for s in shapes]
    ours = lambda *t: mg.einsum(equation, *t)  # noqa: E731
    assert_forward(ours, lambda *v: np.einsum(equation, *v), arrays, device)
    gradcheck(ours, arrays, device=device)


def test_einsum_errors(device):
    a = mg.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match="does not fit an operand of shape"):
        mg.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="repeated letters"):
        mg.einsum("ii->i", mg.zeros(2, 2, device=device))
    with pytest.raises(ValueError, match="letter 'j' has sizes 3 and 4"):
        mg.einsum("ij,jk->ik", a, mg.zeros(4, 2, device=device))
    with pytest.raises(ValueError, match="2 operands"):
        mg.einsum("ij,jk->ik", a)
