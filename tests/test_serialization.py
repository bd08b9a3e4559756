"""Tests for minigrad/serialization.py: nested round trips, no pickle, atomic writes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
from minigrad import backend, nn

# JSON-able leaves and arrays, nested in dicts (str and int keys), lists and tuples
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | hnp.arrays(
        st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]),
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=3),
    )
)
keys = st.text(max_size=6) | st.integers(-5, 100)
trees = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=3)
    ),
    max_leaves=10,
)


def assert_same(a, b):
    """Equal values AND equal types, recursively (an int key must come back an int)."""
    if isinstance(a, np.ndarray):
        b = backend.to_host(b)
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert type(b) is dict and list(a) == list(b)
        assert [type(k) for k in a] == [type(k) for k in b]
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert type(a) is type(b) and a == b


@given(tree=trees)
def test_round_trip_of_nested_trees(tree, tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "tree.npz"
    minigrad.save(tree, path)
    assert_same(tree, minigrad.load(path))


def test_optimizer_like_state(tmp_path):
    state = {
        "state": {0: {"step": 3, "exp_avg": np.arange(4.0)}, 1: {"step": 3, "exp_avg": None}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "name": "all"}],
        "flags": {"amsgrad": False, "nesterov": True},
    }
    minigrad.save(state, tmp_path / "opt.npz")
    loaded = minigrad.load(tmp_path / "opt.npz")
    assert_same(state, loaded)
    assert list(loaded["state"]) == [0, 1]


def test_model_state_dict_round_trip(tmp_path, device):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).to(device)
    model.register_buffer("steps", minigrad.tensor(np.array(7), device=device))
    path = tmp_path / "model.npz"
    minigrad.save(model.state_dict(), path)
    other = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    other.register_buffer("steps", minigrad.tensor(np.array(0)))
    loaded = minigrad.load(path, device=device)
    assert all(backend.device_of(v) == device for v in loaded.values())
    other.to(device).load_state_dict(loaded)
    for (key, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(backend.to_host(a), backend.to_host(b), err_msg=key)
    assert other.steps.dtype == "int64" and other.steps.numpy() == 7


def test_tensors_come_back_as_tensors(tmp_path):
    minigrad.save({"w": minigrad.ones(2, 3)}, tmp_path / "t.npz")
    loaded = minigrad.load(tmp_path / "t.npz")
    assert isinstance(loaded["w"], minigrad.Tensor) and loaded["w"].shape == (2, 3)


def test_file_is_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "plain.bin"  # written exactly at the path given, whatever its suffix
    minigrad.save({"a": np.ones(3), "n": {1: "x"}}, path)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["__structure__", "a0"]
        structure = json.loads(str(archive["__structure__"]))
        np.testing.assert_array_equal(archive["a0"], np.ones(3))
    assert structure == {"dict": [["a", {"array": "a0"}], ["n", {"dict": [[1, "x"]]}]]}


def test_atomic_write_leaves_no_temp_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    minigrad.save({"v": 1}, path)
    minigrad.save({"v": 2}, path)
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    assert minigrad.load(path) == {"v": 2}


def test_next_save_removes_what_a_killed_save_left(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    dead = int(done.stdout)  # a process that has exited
    leftovers = [f".ckpt.npz.{dead}.k2j4h5g6.tmp", ".ckpt.npz.ab_3xy9z.tmp"]  # new, old names
    kept = [
        f".ckpt.npz.{os.getpid()}.q1w2e3r4.tmp",  # a live process: maybe a save in progress
        f".other.npz.{dead}.k2j4h5g6.tmp",  # another file's leftover
        f".ckpt.npz.x.{dead}.k2j4h5g6.tmp",  # the leftover of "ckpt.npz.x"
        "ckpt.npz.tmp",
    ]
    for name in leftovers + kept:
        (tmp_path / name).write_bytes(b"half a file")
    minigrad.save({"v": 1}, tmp_path / "ckpt.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["ckpt.npz"])
    assert minigrad.load(tmp_path / "ckpt.npz") == {"v": 1}


def test_failed_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    minigrad.save({"v": 1}, path)

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        minigrad.save({"v": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    assert minigrad.load(path) == {"v": 1}


def test_unsupported_values_name_their_place(tmp_path):
    with pytest.raises(TypeError, match=r"set at obj\['opt'\]\[0\]"):
        minigrad.save({"opt": [{1, 2}]}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="dict key"):
        minigrad.save({(1, 2): 3}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="object"):
        minigrad.save({"a": np.array([None, 1])}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_load_rejects_foreign_npz(tmp_path):
    np.savez(tmp_path / "foreign.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="not written by minigrad.save"):
        minigrad.load(tmp_path / "foreign.npz")
