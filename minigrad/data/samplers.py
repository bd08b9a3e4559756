"""Samplers: which dataset indices an epoch visits, in what order, and how they group into batches.
Read datasets.py before this file and collate.py, loader.py after it.

As in torch.utils.data, a sampler is an iterable of int indices (a batch sampler: of lists of
them) with a __len__. Randomness comes from `generator`, a numpy Generator, or from minigrad's
seeded host generator when it is None (`minigrad.seed(n)` makes a run repeat). Every sampler
here also hands its epoch out as one int64 array (`index_array()`), which is what DataLoader
slices its batches from: no Python int per sample on the hot path.
"""

import math

import numpy as np

from minigrad import backend

# --------------------------------------------------------------------------- helpers


def _positive_int(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"{owner}: {name} should be a positive integer value, but got {name}={value!r}"
        )
    return int(value)


def _check_bool(value, name, owner, error=ValueError):
    if not isinstance(value, bool):
        raise error(f"{owner}: {name} should be a boolean value, but got {name}={value!r}")
    return value


def check_generator(generator, owner):
    """`generator` itself when it is a numpy Generator or None (shared with DataLoader)."""
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{owner}: generator must be a numpy.random.Generator or None, got {generator!r}"
        )
    return generator


def _rng(generator):
    return generator if generator is not None else backend.host_rng()


# --------------------------------------------------------------------------- index samplers


class Sampler:
    """Base class: subclasses define __len__ and either index_array() (this epoch's indices)
    or __iter__, as in PyTorch."""

    def __init__(self, data_source=None):
        pass  # PyTorch's signature: subclasses written for it call super().__init__(data)

    def index_array(self):
        """This epoch's indices as one int64 array (by default: what __iter__ yields)."""
        if type(self).__iter__ is Sampler.__iter__:
            raise NotImplementedError(
                f"{type(self).__name__} defines neither __iter__ nor index_array"
            )
        return np.fromiter(iter(self), dtype=np.int64)

    def __iter__(self):
        return iter(self.index_array().tolist())

    def __len__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def index_array(self):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation every epoch; with replacement=True, num_samples uniform draws.

    Without replacement, num_samples > len(data_source) chains whole permutations (as PyTorch)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        _check_bool(replacement, "replacement", "RandomSampler", TypeError)
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = check_generator(generator, "RandomSampler")
        _positive_int(self.num_samples, "num_samples", "RandomSampler")

    @property
    def num_samples(self):
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def index_array(self):
        n = len(self.data_source)
        rng = _rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        rounds = math.ceil(self.num_samples / n)
        order = np.concatenate([rng.permutation(n) for _ in range(rounds)])
        return order[: self.num_samples].astype(np.int64)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a fresh random order every epoch."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = check_generator(generator, "SubsetRandomSampler")

    def index_array(self):
        order = _rng(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices, dtype=np.int64)[order]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices in [0, len(weights)), index i drawn with probability weights[i] / sum.

    replacement=False never repeats an index, so it needs num_samples <= the nonzero weights.
    For class imbalance: weights[i] = 1 / (count of sample i's class)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        owner = "WeightedRandomSampler"
        self.num_samples = _positive_int(num_samples, "num_samples", owner)
        self.replacement = _check_bool(replacement, "replacement", owner)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(
                f"{owner}: weights should be a 1d sequence but given weights have shape "
                f"{weights.shape}"
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"{owner}: weights must be finite, >= 0 and not all 0, got {weights}")
        nonzero = int(np.count_nonzero(weights))
        if not replacement and self.num_samples > nonzero:
            raise ValueError(
                f"{owner}: num_samples={self.num_samples} without replacement needs as many "
                f"nonzero weights, but only {nonzero} are nonzero"
            )
        self.weights = weights
        self.generator = check_generator(generator, owner)

    def index_array(self):
        p = self.weights / self.weights.sum()
        rng = _rng(self.generator)
        draws = rng.choice(p.shape[0], size=self.num_samples, replace=self.replacement, p=p)
        return draws.astype(np.int64)

    def __len__(self):
        return self.num_samples


class DistributedSampler(Sampler):
    """This process's shard of the dataset in data-parallel training (one shard per rank).

    Every rank draws the same permutation of the whole dataset from `seed + epoch` (call
    set_epoch(epoch) before each epoch, or every epoch repeats one order), pads it by repeating
    its start up to a multiple of num_replicas (or, with drop_last, cuts it down to one), and
    takes indices[rank::num_replicas]: shards are disjoint (up to the padding) and equally long.
    num_replicas / rank default to minigrad.distributed's world size and rank (1 and 0 without
    a process group)."""

    def __init__(
        self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False
    ):
        if num_replicas is None or rank is None:
            world_size, own_rank = _world()
            num_replicas = world_size if num_replicas is None else num_replicas
            rank = own_rank if rank is None else rank
        self.num_replicas = _positive_int(num_replicas, "num_replicas", "DistributedSampler")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
            raise ValueError(f"DistributedSampler: rank must be an int, got {rank!r}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"DistributedSampler: Invalid rank {rank}, rank should be in the interval "
                f"[0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.rank = int(rank)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """Make the next epoch's permutation the one of `seed + epoch` (on every rank alike)."""
        self.epoch = int(epoch)

    def index_array(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            # pad with the epoch's first indices (repeated if the padding is longer than n)
            repeats = math.ceil(self.total_size / max(n, 1))
            indices = np.tile(indices, repeats)[: self.total_size]
        return indices[self.rank : self.total_size : self.num_replicas].astype(np.int64)

    def __len__(self):
        return self.num_samples


def _world():
    """(world size, rank) of minigrad.distributed's process group (1 and 0 without one)."""
    from minigrad import distributed

    return distributed.get_world_size(), distributed.get_rank()


# --------------------------------------------------------------------------- batch samplers


class BatchSampler(Sampler):
    """Group the indices of `sampler` (any iterable of ints) into lists of batch_size; the last
    one is shorter unless drop_last."""

    def __init__(self, sampler, batch_size, drop_last):
        self.batch_size = _positive_int(batch_size, "batch_size", "BatchSampler")
        self.drop_last = _check_bool(drop_last, "drop_last", "BatchSampler")
        self.sampler = sampler

    def index_arrays(self):
        """The epoch's batches as int64 arrays (DataLoader's path): slices of one index array
        when the sampler gives one, else groups of its iterated ints."""
        if getattr(type(self.sampler), "__iter__", None) is Sampler.__iter__:
            order = self.sampler.index_array()  # a sampler that __iter__ would only unpack
        else:
            order = np.fromiter(self.sampler, dtype=np.int64)
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start : start + self.batch_size]

    def __iter__(self):
        for ids in self.index_arrays():
            yield ids.tolist()

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return math.ceil(len(self.sampler) / self.batch_size)


class ClassBalancedBatchSampler(Sampler):
    """Batches that each hold every class: batch_size // C samples of each of the C classes,
    the remainder going to randomly chosen distinct classes (the recipe's "every batch sees
    every class", which keeps rare classes from vanishing out of whole batches).

    Within a class, samples come from a shuffled cycle reshuffled once used up, so small
    classes repeat and large ones are visited in full over enough batches. num_batches
    defaults to len(labels) // batch_size (about one epoch). `labels`: the int class of every
    sample, e.g. dataset.targets. Pass it to DataLoader as batch_sampler=."""

    def __init__(self, labels, batch_size, num_batches=None, generator=None):
        owner = "ClassBalancedBatchSampler"
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iu":
            raise ValueError(
                f"{owner}: labels must be a non-empty 1-d sequence of int class ids, got "
                f"shape {labels.shape} dtype {labels.dtype}"
            )
        self.classes, inverse = np.unique(labels, return_inverse=True)
        self.batch_size = _positive_int(batch_size, "batch_size", owner)
        if self.batch_size < len(self.classes):
            raise ValueError(
                f"{owner}: batch_size={batch_size} cannot hold all {len(self.classes)} classes; "
                f"use batch_size >= {len(self.classes)}"
            )
        if num_batches is None:
            num_batches = max(labels.size // self.batch_size, 1)
        self.num_batches = _positive_int(num_batches, "num_batches", owner)
        self.members = [np.flatnonzero(inverse == c) for c in range(len(self.classes))]
        self.generator = check_generator(generator, owner)

    def index_arrays(self):
        rng = _rng(self.generator)
        C = len(self.classes)
        cycles = [_ShuffledCycle(m, rng) for m in self.members]
        for _ in range(self.num_batches):
            counts = np.full(C, self.batch_size // C)
            counts[rng.choice(C, size=self.batch_size % C, replace=False)] += 1
            ids = np.concatenate([cycle.take(k) for cycle, k in zip(cycles, counts)])
            yield rng.permutation(ids)

    def __iter__(self):
        for ids in self.index_arrays():
            yield ids.tolist()

    def __len__(self):
        return self.num_batches


class _ShuffledCycle:
    """The members of one class in shuffled order, reshuffled each time they run out."""

    def __init__(self, members, rng):
        self.members = members
        self.rng = rng
        self.order = rng.permutation(members)
        self.next = 0

    def take(self, k):
        taken = []
        while k > 0:
            if self.next == len(self.order):
                self.order = self.rng.permutation(self.members)
                self.next = 0
            chunk = self.order[self.next : self.next + k]
            self.next += len(chunk)
            k -= len(chunk)
            taken.append(chunk)
        return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)
