"""Datasets: MNIST, Fashion-MNIST and CIFAR parsed from their original files, plus in-memory ones.
Host-side NumPy only (no device math). Read samplers.py, collate.py and loader.py next.

Images are kept as uint8 in NCHW order, `.data` of shape (N, 1, 28, 28) or (N, 3, 32, 32), and
labels as int64 `.targets`. `arrays()` hands out the whole set as float [0, 1] at once, which is
what the DataLoader slices batches from.

File formats (never pickle):
  IDX (MNIST, Fashion-MNIST): big-endian; 4-byte magic 0x00000803 (uint8, 3 dims) for images or
  0x00000801 (uint8, 1 dim) for labels, then one uint32 per dim, then the bytes; often gzipped.
  CIFAR binary: fixed-size records, 1 label byte (CIFAR-100: coarse then fine) followed by
  3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each 32x32 row-major (already CHW).
"""

import gzip
import hashlib
import math
import os
import tarfile
import tempfile
import urllib.request
import zlib

import numpy as np

from minigrad import backend
from minigrad.functional.cross_entropy import check_class_ids
from minigrad.progress import progress

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


# --------------------------------------------------------------------------- reading files


def pixels_to_float(x, dtype="float32"):
    """uint8 pixels 0..255 as `dtype` in [0, 1]: the cast, then / 255 in place (one copy).

    Array-namespace code, so the DataLoader runs the same conversion on the device."""
    xp = backend.xp_of(x)
    x = xp.astype(x, getattr(xp, backend.dtype_name(dtype)))
    x /= 255
    return x


def _read_file(path):
    """The bytes of `path`, gunzipped when it is gzip (by magic 1f 8b, not by name)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a valid gzip file (truncated or corrupt?): {e}") from e


def parse_idx(raw, name, magic):
    """The uint8 array stored in IDX bytes `raw`; `name` is only for error messages."""
    if len(raw) < 4:
        raise ValueError(f"{name}: {len(raw)} bytes is too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{name}: IDX magic is 0x{found:08x}, expected 0x{magic:08x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if len(raw) != expected:
        raise ValueError(
            f"{name}: header says shape {dims}, i.e. {expected} bytes, but the file holds "
            f"{len(raw)} bytes of data (truncated or wrong file?)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def parse_cifar(raw, name, label_bytes):
    """(images (N, 3, 32, 32) uint8, labels (N, label_bytes) uint8) from CIFAR binary records."""
    record = label_bytes + 3 * 32 * 32
    if len(raw) == 0 or len(raw) % record != 0:
        raise ValueError(
            f"{name}: {len(raw)} bytes is not a whole number of {record}-byte CIFAR records "
            f"({label_bytes} label byte(s) + 3072 pixels): truncated or the wrong CIFAR version?"
        )
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    images = rows[:, label_bytes:].reshape(-1, 3, 32, 32)
    return images, rows[:, :label_bytes]


def _check_labels(labels, num_classes, name):
    check_class_ids(name, labels, num_classes, what="labels", error=ValueError)


# --------------------------------------------------------------------------- downloading


def _open_url(url):
    """The one network call (tests replace it with a local fake)."""
    return urllib.request.urlopen(url, timeout=60)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path, expected, name=None):
    """Raise (and delete `path`) when its SHA-256 is not `expected`; `name` is what to call it."""
    actual = sha256_of(path)
    if actual != expected:
        os.remove(path)
        raise ValueError(
            f"checksum mismatch for {name or path}: expected sha256 {expected}, got {actual}; "
            "the file was deleted, download it again"
        )


def _check_length(received, total, url):
    """A body shorter than its Content-Length was cut off (urllib does not say so itself)."""
    if total and received != total:
        raise ConnectionError(
            f"download of {url} was cut short: received {received} of the {total} bytes its "
            "Content-Length announced; nothing was kept, try again"
        )


def download_url(url, path, sha256=None):
    """Fetch `url` to `path` atomically (temp file + os.replace), then check its SHA-256.

    A body shorter than the server's Content-Length raises ConnectionError (an OSError, so
    the next mirror is tried) even without a checksum; nothing is left behind either way."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, _open_url(url) as response:
            total = int(response.headers.get("Content-Length") or 0)
            bar = progress(total=total, desc=os.path.basename(path), unit="B")
            received = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                received += len(block)
                bar.update(len(block))
            bar.close()
        _check_length(received, total, url)
        if sha256 is not None:
            verify_sha256(tmp, sha256, name=f"{path} (from {url})")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _download_any(mirrors, filename, folder, sha256):
    """Try each mirror in turn until one answers; a checksum mismatch stops at once."""
    errors = []
    for base in mirrors:
        try:
            return download_url(base + filename, os.path.join(folder, filename), sha256)
        except OSError as e:  # URLError and HTTPError are OSErrors
            errors.append(f"{base + filename}: {e}")
    raise OSError(f"could not download {filename}:\n  " + "\n  ".join(errors))


def cache_dir(name, root=None):
    """`root` itself, else $MINIGRAD_DATA/<name>, else ~/.cache/minigrad/<name>."""
    if root is not None:
        return os.path.expanduser(str(root))
    base = os.environ.get("MINIGRAD_DATA")
    if base:
        return os.path.join(os.path.expanduser(base), name)
    return os.path.join(os.path.expanduser("~"), ".cache", "minigrad", name)


# --------------------------------------------------------------------------- image datasets


class _ImageDataset:
    """Shared by the image sets: uint8 NCHW `.data`, int64 `.targets`, per-sample access."""

    classes = ()

    def __init__(
        self,
        root=None,
        train=True,
        download=False,
        transform=None,
        target_transform=None,
        verify=False,
    ):
        """Load the train or test split from `root` (see cache_dir), downloading what is missing
        when `download`; `verify` checks the SHA-256 of files you supplied."""
        self.root = cache_dir(self.name, root)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.verify = verify
        self.data, self.targets = self._load_split(train, download)

    def _load_split(self, train, download):
        """(uint8 images (N, C, H, W), int64 labels (N,)) of one split; subclasses read files."""
        raise NotImplementedError

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        """(image float32 (C, H, W) in [0, 1], label int), after the optional transforms."""
        image = pixels_to_float(self.data[index])
        target = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def arrays(self, dtype="float32", normalize=True):
        """(x (N, C, H, W) of `dtype`, in [0, 1] when `normalize`, y (N,) int64): whole set."""
        if normalize:
            return pixels_to_float(self.data, dtype), self.targets
        return self.data.astype(dtype), self.targets

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({split}, {len(self)} images of shape {self.data.shape[1:]})"

    def _missing_error(self, files, folders):
        where = " or ".join(folders)
        hint = f"put {', '.join(files)} (gzipped or not) in {where}, or pass download=True"
        if self.name == "fashion-mnist":
            hint += f" (or `apt-get install dataset-fashion-mnist` for {DEBIAN_FASHION_MNIST})"
        return FileNotFoundError(f"{type(self).__name__}: files not found; {hint}")


class MNIST(_ImageDataset):
    """The MNIST digits (LeCun et al.): 60,000 train / 10,000 test images, 1x28x28, 10 classes.

    `root` is the folder holding the four IDX files; it defaults to $MINIGRAD_DATA/mnist or
    ~/.cache/minigrad/mnist. Downloaded files are always checked against SHA-256; files you
    supply are checked only with verify=True."""

    name = "mnist"
    classes = tuple(str(d) for d in range(10))
    mirrors = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    # SHA-256 of the original gzipped files (9,912,422 / 28,881 / 1,648,877 / 4,542 bytes) as
    # listed by TensorFlow Datasets' url_checksums/mnist.txt; the same bytes as the MD5s
    # f68b3c2d... d53e105e... 9fb629c4... ec29112d... that torchvision publishes.
    sha256 = {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    }

    def _load_split(self, train, download):
        prefix = "train" if train else "t10k"
        files = (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
        paths = self._locate(files, download)
        images = parse_idx(_read_file(paths[0]), paths[0], IDX_IMAGES_MAGIC)
        labels = parse_idx(_read_file(paths[1]), paths[1], IDX_LABELS_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{paths[0]} has {images.shape[0]} images but {paths[1]} has "
                f"{labels.shape[0]} labels"
            )
        _check_labels(labels, len(self.classes), paths[1])
        data = images.reshape(images.shape[0], 1, images.shape[1], images.shape[2])
        return data, labels.astype(np.int64)

    def _folders(self):
        return [self.root]

    def _find(self, filename):
        """The path of `filename` or its un-gzipped twin in the first folder that has it."""
        for folder in self._folders():
            for candidate in (filename, filename[: -len(".gz")]):
                path = os.path.join(folder, candidate)
                if os.path.isfile(path):
                    return path
        return None

    def _locate(self, files, download):
        paths = [self._find(f) for f in files]
        if download:
            for i, f in enumerate(files):
                if paths[i] is None:
                    paths[i] = _download_any(self.mirrors, f, self.root, self.sha256[f])
        if None in paths:
            raise self._missing_error(files, self._folders())
        if self.verify:
            for f, path in zip(files, paths):
                if path.endswith(".gz"):
                    verify_sha256(path, self.sha256[f])
        return paths


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (Xiao et al. 2017): MNIST's format and sizes, 10 garment classes.

    Also found in Debian's /usr/share/datasets/fashion-mnist (package dataset-fashion-mnist).
    Note: Debian's copies have a rewritten gzip header (no file name, another mtime), so their
    SHA-256 differs from the originals below although the images are the same."""

    name = "fashion-mnist"
    classes = (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )  # fmt: skip
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    # SHA-256 of the original files (26,421,880 / 29,515 / 4,422,102 / 5,148 bytes), listed by
    # TensorFlow Datasets' url_checksums/fashion_mnist.txt next to the official MD5s
    # 8d4fb7e6... 25c81989... bef4ecab... bb300cfd... of the Fashion-MNIST README.
    sha256 = {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    }

    def _folders(self):
        return [self.root, DEBIAN_FASHION_MNIST]


class CIFAR10(_ImageDataset):
    """CIFAR-10 (Krizhevsky 2009), binary version: 50,000 train / 10,000 test, 3x32x32.

    `root` holds cifar-10-binary.tar.gz, or its extracted cifar-10-batches-bin/ folder, or the
    .bin files themselves."""

    name = "cifar-10"
    classes = (
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    )  # fmt: skip
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    # SHA-256 of the 170,052,171-byte archive (MD5 c32a1d4ab5d03f1284b67883e8d87530), as
    # listed by TensorFlow Datasets' url_checksums/cifar10.txt.
    sha256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
    subdir = "cifar-10-batches-bin"
    train_files = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    test_files = ("test_batch.bin",)
    label_bytes = 1

    def _load_split(self, train, download):
        files = self.train_files if train else self.test_files
        blobs = self._load(files, download)
        parts = [parse_cifar(raw, name, self.label_bytes) for name, raw in blobs]
        data = np.concatenate([images for images, _ in parts])
        labels = np.concatenate([labels for _, labels in parts])
        return data, self._targets(labels, blobs[0][0])

    def _targets(self, labels, name):
        _check_labels(labels[:, 0], len(self.classes), name)
        return labels[:, 0].astype(np.int64)

    @property
    def archive(self):
        return os.path.join(self.root, os.path.basename(self.url))

    def _load(self, files, download):
        """[(name, bytes)] of `files`: loose in root or root/subdir, else from the archive."""
        for folder in (self.root, os.path.join(self.root, self.subdir)):
            paths = [os.path.join(folder, f) for f in files]
            if all(os.path.isfile(p) for p in paths):
                return [(p, _read_file(p)) for p in paths]
        if not os.path.isfile(self.archive):
            if not download:
                raise self._missing_error([os.path.basename(self.url)], [self.root])
            download_url(self.url, self.archive, self.sha256)
        elif self.verify:
            verify_sha256(self.archive, self.sha256)
        return self._read_archive(files)

    def _read_archive(self, files):
        try:
            with tarfile.open(self.archive, "r:*") as tar:
                members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
                missing = [f for f in files if f not in members]
                if missing:
                    raise ValueError(f"{self.archive}: archive has no {', '.join(missing)}")
                return [(f"{self.archive}:{f}", tar.extractfile(members[f]).read()) for f in files]
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise ValueError(f"{self.archive}: not a readable tar.gz (truncated?): {e}") from e


class CIFAR100(CIFAR10):
    """CIFAR-100, binary version: 100 fine classes (`targets`) in 20 superclasses
    (`coarse_targets`); each record is 1 coarse + 1 fine label byte + 3072 pixels."""

    name = "cifar-100"
    classes = tuple(str(i) for i in range(100))
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
    # SHA-256 of the 168,513,733-byte archive (MD5 03b5dce01913d631647c71ecec9e9cb8), as
    # listed by TensorFlow Datasets' url_checksums/cifar100.txt.
    sha256 = "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec"
    subdir = "cifar-100-binary"
    train_files = ("train.bin",)
    test_files = ("test.bin",)
    label_bytes = 2

    def _targets(self, labels, name):
        _check_labels(labels[:, 0], 20, name)
        _check_labels(labels[:, 1], 100, name)
        self.coarse_targets = labels[:, 0].astype(np.int64)
        return labels[:, 1].astype(np.int64)


# --------------------------------------------------------------------------- in-memory datasets


def _as_array(a):
    """A Tensor's backend array (host NumPy stays NumPy); lists become NumPy arrays."""
    data = getattr(a, "data", a)
    return data if backend.is_array(data) else np.asarray(data)


class TensorDataset:
    """Samples are the i-th rows of equally long arrays or Tensors, e.g. (images, labels)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one array")
        self.tensors = tuple(_as_array(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in sizes or len(set(sizes)) != 1:
            shapes = [tuple(t.shape) for t in self.tensors]
            raise ValueError(f"TensorDataset: arrays need the same first dimension, got {shapes}")

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def arrays(self):
        return self.tensors


class Subset:
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [-{n}, {n}), dataset has {n} samples")
        self.indices = self.indices % max(n, 1)  # negative ids count from the end

    def __len__(self):
        return self.indices.shape[0]

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]


def _split_lengths(lengths, n):
    """Integer lengths from counts or fractions; leftover samples go one each, first first."""
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        counts = [int(x) for x in lengths]
    else:
        if any(x < 0 for x in lengths) or not math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
            raise ValueError(f"random_split: fractions must be >= 0 and sum to 1, got {lengths}")
        counts = [math.floor(n * x) for x in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    if any(c < 0 for c in counts) or sum(counts) != n:
        raise ValueError(f"random_split: lengths {lengths} do not add up to the {n} samples")
    return counts


def random_split(dataset, lengths, seed=None):
    """Disjoint random Subsets of the given lengths (counts, or fractions summing to 1)."""
    counts = _split_lengths(list(lengths), len(dataset))
    rng = np.random.default_rng(seed) if seed is not None else backend.host_rng()
    order = rng.permutation(len(dataset))
    ends = np.cumsum(counts)
    return [Subset(dataset, order[end - c : end]) for c, end in zip(counts, ends)]
