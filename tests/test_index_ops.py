"""Indexing ops (minigrad/index_ops.py): gather/scatter/scatter_add, sort/argsort/topk,
split/chunk: forward against NumPy, backward through gradcheck, on every test device."""

import numpy as np
import pytest
from helpers import assert_forward, on
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.testing as mt
from minigrad import gradcheck

small = mt.shapes(1, 3, max_side=4)


@st.composite
def dim_and_index(draw, unique=False):
    """(x, dim, index): an index no larger than x outside `dim`, entries in [0, x.shape[dim])."""
    shape = draw(small)
    x = draw(mt.distinct_arrays(shape))
    dim = draw(st.integers(0, len(shape) - 1))
    n = shape[dim]
    index_shape = [draw(st.integers(1, s)) for s in shape]
    if unique:  # at most n entries along dim, all different (a permutation prefix)
        index_shape[dim] = draw(st.integers(1, n))
    index = np.empty(index_shape, dtype=np.int64)
    for pos in np.ndindex(*[s for d, s in enumerate(index_shape) if d != dim]):
        line = list(pos[:dim]) + [slice(None)] + list(pos[dim:])
        if unique:
            values = draw(st.permutations(list(range(n))))[: index_shape[dim]]
        else:
            values = draw(
                st.lists(
                    st.integers(0, n - 1), min_size=index_shape[dim], max_size=index_shape[dim]
                )
            )
        index[tuple(line)] = values
    return x, dim, index


def np_gather(x, dim, index):
    cut = x[tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(index.shape))]
    return np.take_along_axis(cut, index, dim)


def np_scatter(x, dim, index, src, add):
    y = x.copy()
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        if add:
            y[tuple(target)] += src[pos]
        else:
            y[tuple(target)] = src[pos]
    return y


@given(case=dim_and_index())
def test_gather(case, device):
    x, dim, index = case
    ids = mg.tensor(index, device=device)
    assert_forward(lambda t: t.gather(dim, ids), lambda v: np_gather(v, dim, index), [x], device)
    gradcheck(lambda t: mg.gather(t, dim, ids), [x], device=device)


@pytest.mark.parametrize("add", [False, True], ids=["scatter", "scatter_add"])
@given(data=st.data())
def test_scatter_and_scatter_add(add, data, device):
    # scatter gets distinct targets (which of two writes wins is unspecified); scatter_add repeats
    x, dim, index = data.draw(dim_and_index(unique=not add))
    src = data.draw(mt.arrays(index.shape))
    ids = mg.tensor(index, device=device)
    ref = lambda v, s: np_scatter(v, dim, index, s, add=add)  # noqa: E731

    def ours(t, s):
        return t.scatter_add(dim, ids, s) if add else t.scatter(dim, ids, s)

    assert_forward(ours, ref, [x, src], device)
    gradcheck(ours, [x, src], device=device)
    value = lambda v: np_scatter(v, dim, index, np.full(index.shape, 0.5), add=False)  # noqa: E731
    assert_forward(lambda t: t.scatter(dim, ids, value=0.5), value, [x], device)


def test_scatter_in_place_builds_one_hot(device):
    labels = mg.tensor([2, 0, 1], device=device)
    target = mg.zeros(3, 4, device=device)
    target.scatter_(1, labels.unsqueeze(1), value=1.0)
    np.testing.assert_array_equal(target.numpy(), np.eye(4)[[2, 0, 1]])
    target.scatter_(1, labels.unsqueeze(1), mg.full((3, 1), 2.0, device=device))
    np.testing.assert_array_equal(target.numpy(), 2 * np.eye(4)[[2, 0, 1]])
    counts = mg.zeros(4, dtype="int64", device=device)
    counts.scatter_add_(
        0, mg.tensor([1, 1, 3], device=device), mg.ones(3, dtype="int64", device=device)
    )
    assert counts.tolist() == [0, 2, 0, 1]


def test_gather_rejects_bad_indices(device):
    (x,) = on(device, np.zeros((2, 3)))
    with pytest.raises(IndexError, match="index 3 is out of range for size 3"):
        x.gather(1, mg.tensor([[0, 3]], device=device))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        x.gather(1, mg.tensor([[-1]], device=device))
    with pytest.raises(ValueError, match="index has 1 dims"):
        x.gather(1, mg.tensor([0], device=device))


@given(x=mt.distinct_arrays(small), data=st.data(), descending=st.booleans())
def test_sort_argsort(x, data, descending, device):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    order = np.argsort(-x if descending else x, axis=dim, kind="stable")
    values, indices = on(device, x)[0].sort(dim, descending=descending)
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, order, dim))
    np.testing.assert_array_equal(mg.argsort(on(device, x)[0], dim, descending).numpy(), order)
    gradcheck(lambda t: t.sort(dim, descending=descending).values, [x], device=device)


def test_sort_is_stable_for_ties(device):
    (x,) = on(device, np.array([1.0, 0.0, 1.0, 0.0]))
    assert x.argsort().tolist() == [1, 3, 0, 2]
    assert x.argsort(descending=True).tolist() == [0, 2, 1, 3]


@given(x=mt.distinct_arrays(small), data=st.data(), largest=st.booleans())
def test_topk(x, data, largest, device):
    dim = data.draw(st.integers(0, x.ndim - 1))
    k = data.draw(st.integers(0, x.shape[dim]))
    order = np.argsort(-x if largest else x, axis=dim)
    expected = np.take_along_axis(x, np.take(order, range(k), axis=dim), dim)
    values, indices = on(device, x)[0].topk(k, dim, largest=largest)
    np.testing.assert_array_equal(values.numpy(), expected)
    np.testing.assert_array_equal(np.take_along_axis(x, indices.numpy(), dim), expected)
    if k:
        gradcheck(lambda t: t.topk(k, dim, largest=largest)[0], [x], device=device)


def test_topk_rejects_k_too_large(device):
    with pytest.raises(ValueError, match="k=4 is out of range"):
        mg.zeros(3, device=device).topk(4)


@given(x=mt.arrays(mt.shapes(1, 3, max_side=5)), data=st.data())
def test_split_and_chunk(x, data, device):
    dim = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[dim]
    size = data.draw(st.integers(1, n + 1))
    chunks = data.draw(st.integers(1, n + 1))
    pieces = mg.split(on(device, x)[0], size, dim)
    reference = np.array_split(x, range(size, n, size), axis=dim)
    assert [p.shape for p in pieces] == [r.shape for r in reference]
    for p, r in zip(pieces, reference):
        np.testing.assert_array_equal(p.numpy(), r)
    step = -(-n // chunks)
    assert [p.shape[dim] for p in on(device, x)[0].chunk(chunks, dim)] == [
        min(step, n - s) for s in range(0, n, step)
    ]
    gradcheck(
        lambda t: mg.cat([p * (i + 1) for i, p in enumerate(t.split(size, dim))], dim),
        [x],
        device=device,
    )


def test_split_with_sizes_must_add_up(device):
    x = mg.zeros(5, device=device)
    assert [p.shape[0] for p in x.split([2, 3])] == [2, 3]
    with pytest.raises(ValueError, match="do not add up to 5"):
        x.split([2, 2])


def test_max_and_min_along_a_dim_are_named_pairs(device):
    (x,) = on(device, np.array([[1.0, 5.0], [7.0, 0.0]]))
    result = x.max(1)
    assert result.values.tolist() == [5.0, 7.0] and result.indices.tolist() == [1, 0]
    values, indices = x.min(0)
    assert values.tolist() == [1.0, 0.0] and indices.tolist() == [0, 1]


def test_gather_and_scatter_refuse_boolean_indices(device):
    (x,) = on(device, np.zeros(3))
    with pytest.raises(TypeError, match="index must hold integers"):
        x.gather(0, mg.tensor([True, False], device=device))
    with pytest.raises(TypeError, match="index must hold integers"):
        x.scatter(0, np.array([True]), value=1.0)
