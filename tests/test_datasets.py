"""Tests for minigrad/data/datasets.py: tiny IDX and CIFAR-binary files written here in the exact
original formats, every error path, and the download path against a fake URL opener."""

import gzip
import hashlib
import http.server
import io
import os
import tarfile
import threading
import urllib.error

import numpy as np
import pytest

import minigrad
from minigrad.data import (
    CIFAR10,
    CIFAR100,
    MNIST,
    FashionMNIST,
    Subset,
    TensorDataset,
    random_split,
)
from minigrad.data import datasets as D

# --------------------------------------------------------------------------- file writers


def idx_bytes(array, magic):
    """IDX bytes written by hand from the spec: magic, big-endian uint32 dims, then data."""
    header = magic.to_bytes(4, "big")
    for n in array.shape:
        header += int(n).to_bytes(4, "big")
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write(path, raw, gz):
    path = str(path) + (".gz" if gz else "")
    with open(path, "wb") as f:
        f.write(gzip.compress(raw) if gz else raw)
    return path


def make_mnist(folder, prefix="train", n=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    write(folder / f"{prefix}-images-idx3-ubyte", idx_bytes(images, 0x803), gz)
    write(folder / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels, 0x801), gz)
    return images, labels


def cifar_records(n, label_bytes, seed=0):
    """(raw bytes, images (n, 3, 32, 32), labels (n, label_bytes)) of n binary records."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    top = 10 if label_bytes == 1 else 20
    labels = rng.integers(0, top, size=(n, label_bytes)).astype(np.uint8)
    raw = b"".join(labels[i].tobytes() + images[i].tobytes() for i in range(n))
    return raw, images, labels


def make_cifar10_tar(folder):
    """cifar-10-binary.tar.gz with 2 records per training batch and 3 test records."""
    batches = {f"data_batch_{i}.bin": cifar_records(2, 1, seed=i) for i in range(1, 6)}
    batches["test_batch.bin"] = cifar_records(3, 1, seed=9)
    path = folder / "cifar-10-binary.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, (raw, _, _) in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path, batches


# --------------------------------------------------------------------------- IDX / MNIST


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_parses_idx(tmp_path, gz, train):
    images, labels = make_mnist(tmp_path, "train" if train else "t10k", gz=gz)
    ds = MNIST(root=tmp_path, train=train)
    assert ds.data.shape == (5, 1, 28, 28) and ds.data.dtype == np.uint8
    np.testing.assert_array_equal(ds.data[:, 0], images)
    assert ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.targets, labels)
    assert len(ds) == 5


def test_getitem_and_arrays(tmp_path):
    images, labels = make_mnist(tmp_path)
    ds = MNIST(root=tmp_path, target_transform=lambda t: t + 100, transform=lambda x: x * 2)
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], images[3] / 255.0 * 2, rtol=1e-6)
    assert y == labels[3] + 100
    xs, ys = ds.arrays()
    assert xs.shape == (5, 1, 28, 28) and xs.dtype == np.float32
    assert xs.min() >= 0 and xs.max() <= 1
    np.testing.assert_allclose(xs[:, 0], images / 255.0, rtol=1e-6)
    raw, _ = ds.arrays(dtype="float64", normalize=False)
    np.testing.assert_array_equal(raw[:, 0], images)


def test_wrong_magic(tmp_path):
    make_mnist(tmp_path)
    labels = np.zeros(5, dtype=np.uint8)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(labels, 0x801), True)
    with pytest.raises(ValueError, match=r"train-images.*magic is 0x00000801, expected 0x00000803"):
        MNIST(root=tmp_path)


def test_truncated_file(tmp_path):
    images, _ = make_mnist(tmp_path)
    raw = idx_bytes(images, 0x803)[:-10]
    write(tmp_path / "train-images-idx3-ubyte", raw, True)
    with pytest.raises(ValueError, match=r"images.*\(5, 28, 28\), i.e. 3936 bytes.*holds 3926"):
        MNIST(root=tmp_path)


def test_truncated_header(tmp_path):
    with pytest.raises(ValueError, match="truncated IDX header"):
        D.parse_idx(idx_bytes(np.zeros((2, 2, 2)), 0x803)[:10], "x", 0x803)
    with pytest.raises(ValueError, match="too short"):
        D.parse_idx(b"\x00\x00", "x", 0x803)


def test_count_mismatch(tmp_path):
    make_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4), 0x801), True)
    with pytest.raises(ValueError, match="has 5 images but .*train-labels.* has 4 labels"):
        MNIST(root=tmp_path)


def test_bad_gzip(tmp_path):
    images, _ = make_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images, 0x803))[:100])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: not a valid gzip"):
        MNIST(root=tmp_path)


def test_label_out_of_range(tmp_path):
    make_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.full(5, 10), 0x801), True)
    with pytest.raises(ValueError, match="labels: class id 10, but there are 10 classes"):
        MNIST(root=tmp_path)


def test_missing_files_message(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz.*download=True"):
        MNIST(root=tmp_path)
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        FashionMNIST(root=tmp_path)


def test_cache_dir(tmp_path, monkeypatch):
    assert D.cache_dir("mnist", tmp_path) == str(tmp_path)
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    assert D.cache_dir("mnist") == os.path.join(str(tmp_path), "mnist")
    monkeypatch.delenv("MINIGRAD_DATA")
    assert D.cache_dir("mnist").endswith(os.path.join(".cache", "minigrad", "mnist"))


def test_recorded_checksums_look_like_sha256():
    hashes = list(MNIST.sha256.values()) + list(FashionMNIST.sha256.values())
    hashes += [CIFAR10.sha256, CIFAR100.sha256]
    assert len(set(hashes)) == 10
    for h in hashes:
        assert len(h) == 64 and int(h, 16) >= 0 and h == h.lower()


# --------------------------------------------------------------------------- downloads


class FakeResponse(io.BytesIO):
    def __init__(self, raw):
        super().__init__(raw)
        self.headers = {"Content-Length": str(len(raw))}


def serve(monkeypatch, files, log=None):
    """Make datasets._open_url answer from `files` {file name: bytes}; unknown -> URLError."""

    def fake_open(url):
        if log is not None:
            log.append(url)
        name = url.rsplit("/", 1)[-1]
        if url.startswith("https://down.example/") or name not in files:
            raise urllib.error.URLError(f"no route to {url}")
        return FakeResponse(files[name])

    monkeypatch.setattr(D, "_open_url", fake_open)


def mnist_files(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    labels = np.array([1, 2, 3], dtype=np.uint8)
    return {
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images, 0x803)),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels, 0x801)),
    }


def test_download_checksum_match(tmp_path, monkeypatch):
    files = mnist_files()
    sums = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    monkeypatch.setattr(MNIST, "sha256", sums)
    monkeypatch.setattr(MNIST, "mirrors", ("https://down.example/", "https://ok.example/"))
    urls = []
    serve(monkeypatch, files, urls)
    ds = MNIST(root=tmp_path / "cache", train=False, download=True)
    np.testing.assert_array_equal(ds.targets, [1, 2, 3])
    assert sorted(os.listdir(tmp_path / "cache")) == sorted(files)  # no temp files left
    assert urls[0].startswith("https://down.example/")  # the dead mirror was tried first
    urls.clear()
    MNIST(root=tmp_path / "cache", train=False, download=True)
    assert urls == []  # cached: no second download


def test_download_checksum_mismatch(tmp_path, monkeypatch):
    files = mnist_files()
    wrong = "0" * 64
    sums = {k: wrong for k in files}
    monkeypatch.setattr(MNIST, "sha256", sums)
    serve(monkeypatch, files)
    actual = hashlib.sha256(files["t10k-images-idx3-ubyte.gz"]).hexdigest()
    with pytest.raises(
        ValueError, match=f"t10k-images-idx3-ubyte.gz .*: expected sha256 {wrong}, got {actual}"
    ):
        MNIST(root=tmp_path, train=False, download=True)
    assert os.listdir(tmp_path) == []  # the bad file and the temp file are gone


def test_download_all_mirrors_fail(tmp_path, monkeypatch):
    serve(monkeypatch, {})
    with pytest.raises(OSError, match="could not download t10k-images-idx3-ubyte.gz"):
        MNIST(root=tmp_path, train=False, download=True)


class LyingHandler(http.server.BaseHTTPRequestHandler):
    """/short announces 1000 bytes and sends 100 before closing; /whole sends what it says."""

    def do_GET(self):
        body = b"x" * 100
        self.send_response(200)
        self.send_header("Content-Length", "1000" if self.path == "/short" else "100")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback(monkeypatch):
    """The base URL of a local HTTP server (HTTP/1.0: it closes after each body)."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    server = http.server.HTTPServer(("127.0.0.1", 0), LyingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_refuses_a_body_shorter_than_its_content_length(tmp_path, loopback):
    with pytest.raises(ConnectionError, match="cut short: received 100 of the 1000 bytes"):
        D.download_url(loopback + "/short", tmp_path / "data.bin")  # no sha256 to catch it
    assert os.listdir(tmp_path) == []  # neither the file nor its temp file
    path = D.download_url(loopback + "/whole", tmp_path / "data.bin")
    assert open(path, "rb").read() == b"x" * 100
    assert os.listdir(tmp_path) == ["data.bin"]


def test_verify_user_files(tmp_path, monkeypatch):
    files = mnist_files()
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    assert len(MNIST(root=tmp_path, train=False)) == 3  # user files: no checksum by default
    with pytest.raises(ValueError, match="checksum mismatch"):
        MNIST(root=tmp_path, train=False, verify=True)


def test_cifar_download(tmp_path, monkeypatch):
    path, batches = make_cifar10_tar(tmp_path)
    raw = path.read_bytes()
    monkeypatch.setattr(CIFAR10, "sha256", hashlib.sha256(raw).hexdigest())
    serve(monkeypatch, {"cifar-10-binary.tar.gz": raw})
    ds = CIFAR10(root=tmp_path / "c", train=False, download=True)
    np.testing.assert_array_equal(ds.data, batches["test_batch.bin"][1])
    monkeypatch.setattr(CIFAR10, "sha256", "f" * 64)
    with pytest.raises(
        ValueError, match=r"cifar-10-binary.tar.gz .*: expected sha256 f{64}, got [0-9a-f]{64}"
    ):
        CIFAR10(root=tmp_path / "d", train=False, download=True)
    assert not os.path.exists(tmp_path / "d" / "cifar-10-binary.tar.gz")


# --------------------------------------------------------------------------- CIFAR


def test_cifar10_from_tar(tmp_path):
    _, batches = make_cifar10_tar(tmp_path)
    train = CIFAR10(root=tmp_path, train=True)
    assert train.data.shape == (10, 3, 32, 32) and train.data.dtype == np.uint8
    expected = np.concatenate([batches[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    np.testing.assert_array_equal(train.data, expected)
    labels = np.concatenate([batches[f"data_batch_{i}.bin"][2][:, 0] for i in range(1, 6)])
    np.testing.assert_array_equal(train.targets, labels)
    assert train.targets.dtype == np.int64
    test = CIFAR10(root=tmp_path, train=False)
    np.testing.assert_array_equal(test.data, batches["test_batch.bin"][1])


@pytest.mark.parametrize("nested", [True, False])
def test_cifar10_from_extracted_dir(tmp_path, nested):
    _, batches = make_cifar10_tar(tmp_path)
    folder = tmp_path / "x"
    with tarfile.open(tmp_path / "cifar-10-binary.tar.gz") as tar:
        tar.extractall(folder, filter="data")
    root = folder if nested else folder / "cifar-10-batches-bin"
    ds = CIFAR10(root=root, train=False)
    np.testing.assert_array_equal(ds.data, batches["test_batch.bin"][1])
    assert ds[0][0].shape == (3, 32, 32)


def test_cifar100(tmp_path):
    raw, images, labels = cifar_records(4, 2, seed=3)
    (tmp_path / "test.bin").write_bytes(raw)
    ds = CIFAR100(root=tmp_path, train=False)
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.coarse_targets, labels[:, 0])
    np.testing.assert_array_equal(ds.targets, labels[:, 1])


def test_cifar_errors(tmp_path):
    raw, _, _ = cifar_records(2, 1)
    (tmp_path / "test_batch.bin").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match=r"test_batch.bin: 6145 bytes .* 3073-byte CIFAR"):
        CIFAR10(root=tmp_path, train=False)
    bad = bytearray(raw)
    bad[0] = 12
    (tmp_path / "test_batch.bin").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="labels: class id 12, but there are 10 classes"):
        CIFAR10(root=tmp_path, train=False)


def test_cifar_bad_archives(tmp_path):
    path, _ = make_cifar10_tar(tmp_path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="cifar-10-binary.tar.gz: not a readable tar.gz"):
        CIFAR10(root=tmp_path, train=True)
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/readme.html")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ValueError, match="archive has no test_batch.bin"):
        CIFAR10(root=tmp_path, train=False)
    os.remove(path)
    with pytest.raises(FileNotFoundError, match="cifar-10-binary.tar.gz.*download=True"):
        CIFAR10(root=tmp_path)


# --------------------------------------------------------------------------- the real files


@pytest.mark.skipif(
    not os.path.isdir(D.DEBIAN_FASHION_MNIST), reason="Debian dataset-fashion-mnist not installed"
)
def test_debian_fashion_mnist(tmp_path):
    train = FashionMNIST(root=tmp_path)  # empty root: falls back to the Debian folder
    test = FashionMNIST(root=tmp_path, train=False)
    assert train.data.shape == (60000, 1, 28, 28) and len(test) == 10000
    np.testing.assert_array_equal(np.bincount(train.targets), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.targets), [1000] * 10)


# --------------------------------------------------------------------------- in-memory sets


def test_tensor_dataset():
    x = np.arange(12.0).reshape(6, 2)
    y = minigrad.tensor(np.arange(6))
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[4]
    np.testing.assert_array_equal(a, [8.0, 9.0])
    assert int(b) == 4
    with pytest.raises(ValueError, match=r"same first dimension, got \[\(6, 2\), \(5,\)\]"):
        TensorDataset(x, np.arange(5))


def test_subset_and_random_split():
    ds = TensorDataset(np.arange(10))
    sub = Subset(ds, [3, -1])
    assert len(sub) == 2 and sub[1][0] == 9
    with pytest.raises(IndexError, match="Subset"):
        Subset(ds, [10])
    parts = random_split(ds, [0.5, 0.3, 0.2], seed=1)
    assert [len(p) for p in parts] == [5, 3, 2]
    ids = np.concatenate([p.indices for p in parts])
    np.testing.assert_array_equal(np.sort(ids), np.arange(10))
    again = random_split(ds, [5, 3, 2], seed=1)
    for p, q in zip(parts, again):
        np.testing.assert_array_equal(p.indices, q.indices)
    assert [len(p) for p in random_split(ds, [1 / 3] * 3, seed=0)] == [4, 3, 3]
    with pytest.raises(ValueError, match="do not add up"):
        random_split(ds, [5, 4])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.4])
