"""DataLoader: batches of Tensors on a device, in the order a sampler gives, optionally prepared
ahead by worker threads. Read samplers.py and collate.py before this file, transforms.py after.

Array-backed datasets (TensorDataset, the image sets without per-sample transforms, Subsets of
them) are batched by indexing each whole array once with the batch's ids; anything else is
fetched sample by sample and put together by `collate_fn` (default_collate).
"""

import collections
import concurrent.futures

import numpy as np

from minigrad import backend
from minigrad.data.collate import default_collate, default_convert
from minigrad.data.datasets import Subset, _ImageDataset, pixels_to_float
from minigrad.data.samplers import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    check_generator,
)
from minigrad.tensor import Tensor

# --------------------------------------------------------------------------- helpers


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


def _to_device(batch, device):
    """Every Tensor inside `batch` (dicts, lists, tuples) moved to `device`; the rest as is."""
    if isinstance(batch, Tensor):
        return batch if batch.device == device else Tensor(backend.to_device(batch.data, device))
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, list):
        return [_to_device(value, device) for value in batch]
    if isinstance(batch, tuple) and not hasattr(batch, "_fields"):
        return tuple(_to_device(value, device) for value in batch)
    return batch


def _batch_seed(key, b):
    """The seed of batch b's augmentation in an epoch whose key is `key`."""
    return int(np.random.SeedSequence([key, b]).generate_state(1, np.uint64)[0])


def _check_count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"DataLoader: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"DataLoader: {name} must be >= {minimum}, got {value}")
    return int(value)


def _check_batching(batch_size, shuffle, sampler, batch_sampler, drop_last):
    """PyTorch's rules on which of these arguments go together."""
    if sampler is not None and shuffle:
        raise ValueError("sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None:
        if batch_size != 1 or shuffle or sampler is not None or drop_last:
            raise ValueError(
                "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                "and drop_last"
            )
    elif batch_size is None:
        if drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )
    else:
        _check_count(batch_size, "batch_size", 1)


def _check_workers(num_workers, prefetch_factor):
    """num_workers and prefetch_factor (PyTorch's default: 2 batches per worker)."""
    _check_count(num_workers, "num_workers", 0)
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError(
            "DataLoader: prefetch_factor option could only be specified with num_workers > 0 "
            "(worker threads); otherwise set prefetch_factor to None"
        )
    if num_workers > 0 and prefetch_factor is None:
        return 2
    return None if prefetch_factor is None else _check_count(prefetch_factor, "prefetch_factor", 0)


def _loader_generator(generator, seed):
    """The loader's numpy Generator: `generator`, a new one from `seed`, or None (global)."""
    if generator is not None and seed is not None:
        raise ValueError(f"DataLoader: pass seed or generator, not both (seed={seed!r})")
    if seed is not None:
        return np.random.default_rng(seed)
    return check_generator(generator, "DataLoader")


def _check_callable(value, name):
    if value is not None and not callable(value):
        raise TypeError(f"DataLoader: {name} must be callable, got {value!r}")
    return value


def _default_sampler(dataset, shuffle, generator):
    if shuffle:
        return RandomSampler(dataset, generator=generator)
    return SequentialSampler(dataset)


# --------------------------------------------------------------------------- the loader


class DataLoader:
    """Iterate over `dataset` in batches on `device`, as torch.utils.data.DataLoader does.

    Batches are what collate_fn makes of a list of samples: with the default, (x, y) samples
    give [x (B, ...), y (B,)] Tensors and dict samples a dict (see collate.py). The indices come
    from `sampler` (default: in order, or a RandomSampler with shuffle=True) grouped by a
    BatchSampler(sampler, batch_size, drop_last), or from your own `batch_sampler`.
    batch_size=None yields single samples, converted but not stacked.

    Randomness: shuffling and augmentation draw from `generator` (a numpy Generator), or a
    new one from `seed`, or minigrad's seeded host generator when both are None. `transform`
    is a batch transform (see transforms.py) applied on the device to the batch's first field
    (or to the batch when it is one Tensor); each batch draws its augmentation from its own
    generator, seeded from the epoch and the batch's position, so the batches do not depend on
    num_workers or on what the training step draws in between.

    num_workers > 0: that many threads fetch, collate, move and transform up to
    num_workers * prefetch_factor batches ahead while the step runs; batches come out in
    sampler order, identical to num_workers=0. Transforms then run in those threads: they must
    not switch minigrad's grad mode (no_grad is process-wide). pin_memory is accepted for
    ported code and does nothing: batches go straight to `device`."""

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        *,
        generator=None,
        prefetch_factor=None,
        seed=None,
        transform=None,
        device="cpu",
    ):
        _check_batching(batch_size, shuffle, sampler, batch_sampler, drop_last)
        self.prefetch_factor = _check_workers(num_workers, prefetch_factor)
        self.generator = _loader_generator(generator, seed)
        self.rng = self.generator  # what save_checkpoint(loader=...) stores
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.num_workers = int(num_workers)
        self.collate_fn = _check_callable(collate_fn, "collate_fn")
        self.transform = _check_callable(transform, "transform")
        self.pin_memory = pin_memory
        self.device = backend.normalize_device(device)
        if sampler is None:
            sampler = _default_sampler(dataset, self.shuffle, self.generator)
        if batch_sampler is not None:
            batch_size = None  # the batch sampler decides, as in PyTorch
        elif batch_size is not None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.arrays, self._uint8_images = _whole_arrays(dataset)
        if self.collate_fn is None:
            self.collate_fn = default_collate if batch_sampler is not None else default_convert
        else:
            self.arrays = None  # collate_fn sees the samples themselves

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    # ------------------------------------------------------------------- one batch

    def _index_batches(self):
        """The epoch's batches of indices as int64 arrays (single ints without batching)."""
        if self.batch_sampler is None:
            return iter(self.sampler)
        if callable(getattr(self.batch_sampler, "index_arrays", None)):
            return self.batch_sampler.index_arrays()
        return (np.asarray(ids, dtype=np.int64) for ids in self.batch_sampler)

    def _fetch(self, ids):
        """One batch on the device, before the transform."""
        if self.batch_sampler is None:
            return _to_device(self.collate_fn(self.dataset[int(ids)]), self.device)
        if self.arrays is None:
            samples = [self.dataset[int(i)] for i in ids]
            return _to_device(self.collate_fn(samples), self.device)
        arrays = [backend.to_device(_take(a, ids), self.device) for a in self.arrays]
        if self._uint8_images:
            arrays[0] = pixels_to_float(arrays[0])  # as dataset.arrays() does, on the device
        return [Tensor(a) for a in arrays]

    def _transform(self, batch):
        if isinstance(batch, Tensor):
            return self.transform(batch)
        if isinstance(batch, (list, tuple)) and batch:
            return type(batch)([self.transform(batch[0]), *batch[1:]])
        raise TypeError(
            f"DataLoader: transform= applies to a Tensor batch or the first field of a list or "
            f"tuple batch, got a {type(batch).__name__} batch: transform inside the dataset or "
            "collate_fn instead"
        )

    def _load(self, ids, seed):
        """Fetch, collate, move and transform one batch (in the caller's or a worker thread)."""
        batch = self._fetch(ids)
        if self.transform is None:
            return batch
        with backend.generator_scope(seed):
            return self._transform(batch)

    # ------------------------------------------------------------------- an epoch

    def _jobs(self):
        """(indices, augmentation seed) of every batch of one epoch, in order.

        The sampler runs here, in the iterating thread, so its draws from a shared generator
        happen in the same order whatever num_workers is."""
        rng = self.generator if self.generator is not None else backend.host_rng()
        key = int(rng.integers(2**63)) if self.transform is not None else 0
        for b, ids in enumerate(self._index_batches()):
            # no transform, no augmentation to seed (a SeedSequence is half a batch's overhead)
            yield ids, (_batch_seed(key, b) if self.transform is not None else None)

    def _prefetched(self, jobs):
        """Batches loaded by worker threads, num_workers * prefetch_factor ahead, in order."""
        depth = self.num_workers * self.prefetch_factor
        pending = collections.deque()
        with concurrent.futures.ThreadPoolExecutor(self.num_workers, "DataLoader") as pool:
            try:
                for ids, seed in jobs:
                    pending.append(pool.submit(self._load, ids, seed))
                    if len(pending) > depth:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

    def __iter__(self):
        if self.num_workers > 0:
            return self._prefetched(self._jobs())
        return (self._load(ids, seed) for ids, seed in self._jobs())

    def __repr__(self):
        kind = "array-backed" if self.arrays is not None else "per-sample"
        return (
            f"DataLoader({kind}, {len(self.dataset)} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, num_workers={self.num_workers}, "
            f"device='{self.device}')"
        )
