"""DataLoader: seeded shuffling and batching, one fancy-index per batch, one move to the device.
Read datasets.py before this file and transforms.py after it.

Array-backed datasets (TensorDataset, the image sets without per-sample transforms, Subsets of
them) are batched by indexing each whole array once with the batch's ids; anything else falls
back to fetching samples one by one and stacking them on the host.
"""

import math

import numpy as np

from minigrad import backend
from minigrad.data.datasets import Subset, _ImageDataset
from minigrad.tensor import Tensor


def _whole_arrays(dataset):
    """(the dataset as a tuple of whole arrays, first axis = samples, or None if it is not;
    whether the first array holds uint8 images to scale to [0, 1] per batch)."""
    if isinstance(dataset, Subset):
        source, images = _whole_arrays(dataset.dataset)
        if source is None:
            return None, False
        return tuple(_take(a, dataset.indices) for a in source), images
    if getattr(dataset, "transform", None) is not None:
        return None, False
    if getattr(dataset, "target_transform", None) is not None:
        return None, False
    if isinstance(dataset, _ImageDataset):
        # keep the uint8 pixels: a quarter of the memory and of the bytes sent to the device
        return (dataset.data, dataset.targets), True
    if callable(getattr(dataset, "arrays", None)):
        return tuple(dataset.arrays()), False
    return None, False


def _take(a, ids):
    """a[ids] along axis 0; `ids` is a host int64 array, `a` a host or device array."""
    if isinstance(a, np.ndarray):
        return a[ids]
    xp = backend.xp_of(a)
    return xp.take(a, backend.to_device(ids, backend.device_of(a)), axis=0)


def _stack(samples):
    """Per-field host arrays from a list of samples (tuples of arrays, Tensors or numbers)."""
    if not isinstance(samples[0], (tuple, list)):
        samples = [(s,) for s in samples]
    fields = []
    for column in zip(*samples):
        items = [backend.to_host(getattr(c, "data", c)) if _is_tensorish(c) else c for c in column]
        fields.append(np.stack([np.asarray(i) for i in items]))
    return tuple(fields)


def _is_tensorish(x):
    return isinstance(x, Tensor) or (backend.is_array(x) and not isinstance(x, np.ndarray))


class DataLoader:
    """Iterate over `dataset` in batches of Tensors on `device`.

    Each batch is `(x, y)` (or one Tensor per dataset field). With shuffle=True every epoch
    draws one permutation from a numpy Generator seeded with `seed` (the sequence of epochs is
    reproducible), or from minigrad's seeded host generator when seed is None. `transform` is
    a batch transform (see transforms.py) applied to x on the device after the move."""

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=False,
        drop_last=False,
        seed=None,
        transform=None,
        device="cpu",
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {transform!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.device = backend.normalize_device(device)
        self.rng = np.random.default_rng(seed) if seed is not None else None
        self.arrays, self._uint8_images = _whole_arrays(dataset)

    def __len__(self):
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self.rng if self.rng is not None else backend.host_rng()
        return rng.permutation(n)

    def _fetch(self, ids):
        """Host or device arrays of one batch: one gather per field."""
        if self.arrays is not None:
            return tuple(_take(a, ids) for a in self.arrays)
        return _stack([self.dataset[int(i)] for i in ids])

    def __iter__(self):
        order = self._order()
        for b in range(len(self)):
            ids = order[b * self.batch_size : (b + 1) * self.batch_size]
            arrays = [backend.to_device(a, self.device) for a in self._fetch(ids)]
            if self._uint8_images:
                # the same float32 x / 255 as dataset.arrays(), done on the device
                xp = backend.xp_of(arrays[0])
                arrays[0] = xp.astype(arrays[0], xp.float32) / 255
            fields = [Tensor(a) for a in arrays]
            if self.transform is not None:
                fields[0] = self.transform(fields[0])
            yield tuple(fields) if len(fields) > 1 else fields[0]

    def __repr__(self):
        kind = "array-backed" if self.arrays is not None else "per-sample"
        return (
            f"DataLoader({kind}, {len(self.dataset)} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, device='{self.device}')"
        )
