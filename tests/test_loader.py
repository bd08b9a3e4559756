"""Tests for minigrad/data/loader.py and collate.py: batching order, seeded shuffling, devices, the
array-backed fast path versus the per-sample fallback, collation, samplers, worker threads."""

import collections
import itertools
import threading

import numpy as np
import pytest

import minigrad
from minigrad import backend
from minigrad.data import (
    MNIST,
    ClassBalancedBatchSampler,
    DataLoader,
    DistributedSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
)
from minigrad.data import transforms as T


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
    out = [x.numpy() for (x,) in loader]  # one-field samples: [x] batches, as in PyTorch
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


# --------------------------------------------------------------------------- collate


def test_default_collate_rules():
    Point = collections.namedtuple("Point", "x y")
    samples = [
        {"image": np.full((2, 2), i, np.float32), "label": i, "w": 0.5 * i, "name": f"s{i}"}
        for i in range(3)
    ]
    batch = default_collate(samples)
    assert set(batch) == {"image", "label", "w", "name"}
    assert batch["image"].shape == (3, 2, 2) and batch["image"].dtype == "float32"
    assert batch["label"].dtype == "int64" and batch["w"].dtype == "float64"
    np.testing.assert_array_equal(batch["w"].numpy(), [0.0, 0.5, 1.0])
    assert batch["name"] == ["s0", "s1", "s2"]
    pairs = default_collate([(np.float32(1), [1, 2]), (np.float32(2), [3, 4])])
    assert isinstance(pairs, list) and pairs[0].dtype == "float32"  # tuples give lists
    np.testing.assert_array_equal(pairs[1][0].numpy(), [1, 3])  # inner lists per position
    points = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(points, Point) and points.x.numpy().tolist() == [1, 3]
    tensors = default_collate([minigrad.tensor([1.0, 2.0]), minigrad.tensor([3.0, 4.0])])
    assert tensors.shape == (2, 2)


def test_default_collate_bad_input():
    with pytest.raises(TypeError, match="batch must contain tensors, numpy arrays, numbers"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [3]])


class DictSamples:
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(3, i, np.float32), "y": i}


def test_dict_samples_and_collate_fn(device):
    loader = DataLoader(DictSamples(), batch_size=2, device=device)
    batches = list(loader)
    assert [b["x"].shape for b in batches] == [(2, 3), (2, 3), (1, 3)]
    assert batches[0]["x"].device == device and batches[0]["y"].device == device
    np.testing.assert_array_equal(batches[2]["y"].numpy(), [4])

    def sum_x(samples):
        return minigrad.tensor(np.stack([s["x"] for s in samples]).sum(axis=1))

    sums = [b.numpy() for b in DataLoader(DictSamples(), batch_size=5, collate_fn=sum_x)]
    np.testing.assert_array_equal(sums[0], [0, 3, 6, 9, 12])
    # collate_fn on an array-backed dataset sees the samples, not the fast path's arrays
    seen = DataLoader(dataset(4), batch_size=2, collate_fn=lambda s: len(s))
    assert list(seen) == [2, 2]


def test_batch_size_none_yields_converted_samples():
    items = list(DataLoader(PerSample(), batch_size=None))
    assert len(items) == 7
    x, y = items[3]
    assert x.shape == (2, 2) and y == 3  # no batch axis; ints stay ints (default_convert)


# --------------------------------------------------------------------------- samplers


def test_sampler_and_batch_sampler():
    data = dataset(10)
    loader = DataLoader(data, batch_size=4, sampler=SubsetRandomSampler([1, 3, 5, 7, 9]))
    assert len(loader) == 2
    ys = collect(loader)[1]
    assert sorted(ys.tolist()) == [10, 30, 50, 70, 90]
    fixed = DataLoader(data, batch_sampler=[[0, 9], [4], [2, 2, 2]])
    assert [y.numpy().tolist() for _, y in fixed] == [[0, 90], [40], [20, 20, 20]]
    assert fixed.batch_size is None and len(fixed) == 3
    weighted = DataLoader(data, batch_size=5, sampler=WeightedRandomSampler([0] * 9 + [1], 10))
    assert set(collect(weighted)[1].tolist()) == {90}
    labels = np.arange(10) % 3
    balanced = DataLoader(data, batch_sampler=ClassBalancedBatchSampler(labels, batch_size=3))
    for _, y in balanced:
        assert sorted((y.numpy() // 10 % 3).tolist()) == [0, 1, 2]


def test_distributed_sampler_in_a_loader():
    data = dataset(10)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(data, num_replicas=2, rank=rank, seed=1)
        sampler.set_epoch(3)
        seen += collect(DataLoader(data, batch_size=2, sampler=sampler))[1].tolist()
    assert sorted(seen) == list(range(0, 100, 10))


def test_exclusive_arguments_get_pytorchs_errors():
    data = dataset(6)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(data, sampler=SequentialSampler(data), shuffle=True)
    message = "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler"
    for bad in (dict(batch_size=2), dict(shuffle=True), dict(drop_last=True)):
        with pytest.raises(ValueError, match=message):
            DataLoader(data, batch_sampler=[[0]], **bad)
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching"):
        DataLoader(data, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="pass seed or generator, not both"):
        DataLoader(data, seed=1, generator=np.random.default_rng())
    with pytest.raises(TypeError, match="collate_fn must be callable, got 3"):
        DataLoader(data, collate_fn=3)
    with pytest.raises(ValueError, match="num_workers must be >= 0, got -1"):
        DataLoader(data, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(data, prefetch_factor=2)
    with pytest.raises(TypeError, match="transform= applies to a Tensor batch or the first"):
        list(DataLoader(DictSamples(), batch_size=2, transform=lambda x: x))


# --------------------------------------------------------------------------- workers


def augmented_epochs(num_workers, device, epochs=2):
    """Batches of a shuffled, augmented loader while the 'training step' draws from the
    global generators in between (as dropout does)."""
    minigrad.seed(11)
    x = np.random.default_rng(0).random((40, 1, 6, 6), dtype=np.float32)
    augment = T.Compose([T.RandomCrop(6, padding=1), T.RandomHorizontalFlip(0.5)])
    loader = DataLoader(
        TensorDataset(x, np.arange(40)),
        8,
        shuffle=True,
        num_workers=num_workers,
        transform=augment,
        device=device,
    )
    out = []
    for _ in range(epochs):
        for xb, yb in loader:
            minigrad.rand(3, device=device)  # the step's own draw
            out.append((xb.numpy(), yb.numpy()))
    return out


def test_workers_give_identical_batches(device):
    serial = augmented_epochs(0, device)
    assert not np.array_equal(serial[0][0], serial[5][0])
    for workers in (1, 2):
        threaded = augmented_epochs(workers, device)
        assert len(threaded) == len(serial) == 10
        for (xa, ya), (xb, yb) in zip(serial, threaded):
            np.testing.assert_array_equal(ya, yb)
            np.testing.assert_array_equal(xa, xb)


class Gate:
    """A per-sample dataset that signals once sample `watch` has been fetched."""

    def __init__(self, watch):
        self.watch = watch
        self.fetched = threading.Event()

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == self.watch:
            self.fetched.set()
        if i == 11:
            raise KeyError("sample 11 is broken")
        return np.float32(i)


def test_workers_load_ahead_and_raise_in_order():
    data = Gate(watch=4)  # the first sample of batch 2, counting from 0
    loader = DataLoader(data, batch_size=2, num_workers=1, prefetch_factor=2)
    batches = iter(loader)
    np.testing.assert_array_equal(next(batches).numpy(), [0, 1])
    # batches 1 and 2 (1 worker x prefetch 2) load while the consumer holds batch 0
    assert data.fetched.wait(timeout=30)
    assert [b.numpy().tolist() for b in itertools.islice(batches, 4)] == [
        [2, 3],
        [4, 5],
        [6, 7],
        [8, 9],
    ]
    with pytest.raises(KeyError, match="sample 11 is broken"):
        next(batches)


def test_breaking_out_stops_the_workers():
    loader = DataLoader(dataset(40), batch_size=2, num_workers=2)
    for _ in loader:
        break
    before = threading.active_count()
    assert [y.numpy()[0] for _, y in itertools.islice(loader, 3)] == [0, 20, 40]
    assert threading.active_count() <= before
