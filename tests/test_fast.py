"""The fast layer's array tricks: host-memory tuning (fast/memory.py: freed big arrays are
reused, not page-faulted anew) and the NumPy per-channel passes (fast/arrays.py), against plain
NumPy. tests/test_fast_equals_reference.py checks the fast ops against their references."""

import platform
import resource
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrad import testing as mt
from minigrad.fast import arrays, memory

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc's mallopt")

FAULTS_OF_A_FRESH_64_MIB_ARRAY = """
import resource, numpy as np, minigrad
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.ones(2**24, dtype=np.float32); del a
before = faults(); a = np.ones(2**24, dtype=np.float32); del a
print(faults() - before)
"""


def _refill_faults(env_value):
    """Minor page faults of filling a 64 MiB array right after an equal one was freed, in a
    fresh process that imports minigrad with $MINIGRAD_KEEP_FREED_MEMORY = env_value."""
    env = {"MINIGRAD_KEEP_FREED_MEMORY": env_value, "PATH": ""}
    command = [sys.executable, "-c", FAULTS_OF_A_FRESH_64_MIB_ARRAY]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return int(done.stdout)


@glibc_only
def test_freed_arrays_are_reused_without_page_faults():
    # 64 MiB is above glibc's largest automatic mmap threshold (32 MiB): by default such a
    # block is unmapped on free and the refill faults every page (or every 2 MiB huge page)
    assert _refill_faults("1") <= 4
    assert _refill_faults("0") >= 16


@glibc_only
def test_keep_freed_memory_reports_success_and_applies_in_this_process():
    assert memory.keep_freed_memory() is True
    a = np.ones(2**24, dtype=np.float32)
    del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(2**24, dtype=np.float32)
    del a
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before <= 4


# --------------------------------------------------------------------------- per-channel sums


@st.composite
def laid_out_arrays(draw):
    """A float64 array with a random memory order, and a random set of axes to reduce."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    order = draw(st.permutations(range(len(shape))))
    memory = draw(mt.arrays(tuple(shape[i] for i in order)))
    a = memory.transpose(np.argsort(order))  # logical `shape`, memory in `order`
    axes = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    return a, tuple(order), axes


@given(case=laid_out_arrays(), data=st.data())
def test_sum_fast_paths_equal_numpy_and_apply_when_the_axes_lead_in_memory(case, data):
    a, order, axes = case
    b = data.draw(mt.arrays(a.shape))
    b = np.ascontiguousarray(b.transpose(order)).transpose(np.argsort(order))  # a's layout
    kept = tuple(i for i in range(a.ndim) if i not in axes)
    leading = [i for i in order if a.shape[i] > 1] == [i for i in axes + kept if a.shape[i] > 1]
    total = arrays.sum_over(a, axes)
    assert (total is not None) == leading  # the GEMV needs the reduced axes first in memory
    if leading:
        expected = np.sum(a, axis=axes, keepdims=True)
        np.testing.assert_allclose(total, expected, rtol=1e-12, atol=1e-12)
    products = arrays.sum_of_products(a, b, axes)  # einsum: any layout
    expected = np.sum(a * b, axis=axes, keepdims=True)
    np.testing.assert_allclose(products, expected, rtol=1e-12, atol=1e-12)


def test_sum_fast_paths_decline_other_arrays():
    assert arrays.sum_over([1.0, 2.0], (0,)) is None
    a = np.ones((4, 3))
    assert arrays.sum_over(a, ()) is None
    assert arrays.sum_over(a.T.copy().T, (0,)) is None  # the reduced rows must lead in memory
    assert arrays.sum_of_products(a, np.ones((4, 1)), (0,)) is None  # shapes must match
    empty = np.zeros((0, 3))
    assert (
        arrays.sum_over(empty, (0,)) is None
        and arrays.channel_affine(empty, a[:1], None, (0,)) is None
    )


@given(case=laid_out_arrays(), data=st.data(), use=st.sampled_from(["both", "scale", "shift"]))
def test_channel_affine_equals_broadcasting_and_keeps_the_layout(case, data, use):
    a, order, axes = case
    kept_shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    scale = data.draw(mt.arrays(kept_shape)) if use != "shift" else None
    shift = data.draw(mt.arrays(kept_shape)).astype(np.float32) if use != "scale" else None
    out = arrays.channel_affine(a, scale, shift, axes)
    if arrays.sum_over(a, axes) is None:  # the same layouts qualify as for the sums
        assert out is None
        return
    expected = a if scale is None else a * scale
    expected = expected if shift is None else expected + shift
    assert out.dtype == expected.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, expected)
    assert out.transpose(order).flags.c_contiguous  # a's memory order
