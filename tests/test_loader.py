"""Tests for minigrad/data/loader.py: batching order, seeded shuffling, devices, the array-backed
fast path versus the per-sample fallback."""

import numpy as np
import pytest

import minigrad
from minigrad import backend
from minigrad.data import MNIST, DataLoader, Subset, TensorDataset


def dataset(n=10):
    x = np.arange(n * 6, dtype=np.float32).reshape(n, 1, 2, 3)
    return TensorDataset(x, np.arange(n) * 10)


class NoSamples(TensorDataset):
    """Array-backed: the loader must never fetch single samples from it."""

    def __getitem__(self, index):
        raise AssertionError("the fast path fetched a single sample")


class PerSample:
    """A generic dataset: only __len__ and __getitem__."""

    def __len__(self):
        return 7

    def __getitem__(self, i):
        return np.full((2, 2), i, dtype=np.float32), i


def collect(loader):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in loader])
    return np.concatenate(xs), np.concatenate(ys)


def test_sequential_batches(device):
    data = dataset(10)
    loader = DataLoader(data, batch_size=4, device=device)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.device == device and y.device == device
    assert x.dtype == "float32" and y.dtype == "int64"
    xs, ys = collect(loader)
    np.testing.assert_array_equal(xs, data.tensors[0])
    np.testing.assert_array_equal(ys, data.tensors[1])


def test_drop_last():
    loader = DataLoader(dataset(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [x.shape[0] for x, _ in loader] == [4, 4]
    assert len(DataLoader(dataset(8), batch_size=4, drop_last=True)) == 2


def test_shuffle_is_a_permutation_and_reproducible():
    data = dataset(50)
    a = DataLoader(data, batch_size=8, shuffle=True, seed=3)
    b = DataLoader(data, batch_size=8, shuffle=True, seed=3)
    epoch1, epoch2 = collect(a)[1], collect(a)[1]
    np.testing.assert_array_equal(np.sort(epoch1), np.arange(50) * 10)
    assert not np.array_equal(epoch1, np.arange(50) * 10)
    assert not np.array_equal(epoch1, epoch2)  # a new permutation every epoch
    np.testing.assert_array_equal(collect(b)[1], epoch1)  # the same seed repeats the run
    np.testing.assert_array_equal(collect(b)[1], epoch2)
    # x and y stay paired: row i of x starts with 6 * i, label 10 * i
    xs, ys = collect(a)
    np.testing.assert_array_equal(xs[:, 0, 0, 0] / 6, ys / 10)


def test_shuffle_without_seed_follows_minigrad_seed():
    data = dataset(30)
    minigrad.seed(7)
    first = collect(DataLoader(data, batch_size=5, shuffle=True))[1]
    minigrad.seed(7)
    again = collect(DataLoader(data, batch_size=5, shuffle=True))[1]
    np.testing.assert_array_equal(first, again)


def test_fast_path_gathers_whole_arrays(device):
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    data = NoSamples(x, np.arange(10))
    loader = DataLoader(data, batch_size=3, shuffle=True, seed=0, device=device)
    xs, ys = collect(loader)
    np.testing.assert_array_equal(xs, x[ys])


def test_subset_uses_fast_path():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    sub = Subset(NoSamples(x, np.arange(10)), [9, 2, 5])
    xs, ys = collect(DataLoader(sub, batch_size=2))
    np.testing.assert_array_equal(ys, [9, 2, 5])
    np.testing.assert_array_equal(xs, x[[9, 2, 5]])


def test_device_arrays_in_dataset(device):
    x = minigrad.tensor(np.arange(12.0).reshape(6, 2), device=device)
    y = backend.to_device(np.arange(6), device)
    xs, ys = collect(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=1))
    np.testing.assert_array_equal(xs[:, 0], ys * 2)


def test_generic_dataset_falls_back_to_stacking(device):
    loader = DataLoader(PerSample(), batch_size=3, device=device)
    assert loader.arrays is None
    xs, ys = collect(loader)
    assert xs.shape == (7, 2, 2)
    np.testing.assert_array_equal(ys, np.arange(7))
    np.testing.assert_array_equal(xs[:, 0, 0], np.arange(7))


def test_single_field_and_batch_transform(device):
    seen = []

    def double(x):
        seen.append(x.device)
        return x * 2

    data = TensorDataset(np.ones((5, 3), dtype=np.float32))
    loader = DataLoader(data, batch_size=2, transform=double, device=device)
    out = [x.numpy() for x in loader]
    assert seen == [device] * 3
    np.testing.assert_array_equal(np.concatenate(out), np.full((5, 3), 2.0))


def write_tiny_mnist(folder, n=9):
    """Raw IDX files (magic, big-endian dims, bytes) for n random images."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    header = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
    (folder / "train-images-idx3-ubyte").write_bytes(header + images.tobytes())
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    header = (0x801).to_bytes(4, "big") + n.to_bytes(4, "big")
    (folder / "train-labels-idx1-ubyte").write_bytes(header + labels.tobytes())
    return images, labels


def test_image_dataset_batches_equal_arrays(tmp_path, device):
    images, labels = write_tiny_mnist(tmp_path)
    ds = MNIST(root=tmp_path)
    x_all, y_all = ds.arrays()
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=2, device=device)
    assert loader.arrays[0].dtype == np.uint8  # pixels stay uint8 until they are on the device
    xs, ys = collect(loader)
    order = [int(np.nonzero((x_all == x).all(axis=(1, 2, 3)))[0][0]) for x in xs]
    assert sorted(order) == list(range(9))
    np.testing.assert_array_equal(xs, x_all[order])  # bit-identical to the host conversion
    np.testing.assert_array_equal(ys, y_all[order])
    sub = Subset(ds, [4, 1])
    xs, ys = collect(DataLoader(sub, batch_size=2, device=device))
    np.testing.assert_array_equal(xs, x_all[[4, 1]])


def test_dataset_with_sample_transform_is_not_array_backed(tmp_path):
    class WithTransform(TensorDataset):
        transform = staticmethod(lambda s: s)

    assert DataLoader(WithTransform(np.zeros(3))).arrays is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        DataLoader(dataset(), batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int, got 2.5"):
        DataLoader(dataset(), batch_size=2.5)
    with pytest.raises(TypeError, match="transform must be callable"):
        DataLoader(dataset(), transform=3)
