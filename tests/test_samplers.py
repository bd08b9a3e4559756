"""Tests for minigrad/data/samplers.py: orders, counts, statistics, sharding and bad arguments."""

import sys
import types

import numpy as np
import pytest

import minigrad
from minigrad import data


def rng(seed=0):
    return np.random.default_rng(seed)


def test_sequential_sampler():
    assert list(data.SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    assert len(data.SequentialSampler(range(5))) == 5


def test_random_sampler_is_a_seeded_permutation():
    order = list(data.RandomSampler(range(20), generator=rng(1)))
    assert sorted(order) == list(range(20)) and order != list(range(20))
    assert order == list(data.RandomSampler(range(20), generator=rng(1)))
    minigrad.seed(4)
    first = list(data.RandomSampler(range(20)))
    minigrad.seed(4)
    assert list(data.RandomSampler(range(20))) == first  # no generator: minigrad.seed decides


def test_random_sampler_num_samples_and_replacement():
    chained = list(data.RandomSampler(range(4), num_samples=10, generator=rng()))
    assert len(chained) == 10
    assert sorted(chained[:4]) == [0, 1, 2, 3] and sorted(chained[4:8]) == [0, 1, 2, 3]
    draws = data.RandomSampler(range(3), replacement=True, num_samples=3000, generator=rng())
    counts = np.bincount(list(draws), minlength=3)
    assert len(draws) == 3000 and counts.min() > 900  # ~1000 each, uniform


def test_subset_random_sampler():
    order = list(data.SubsetRandomSampler([7, 3, 9, 1], generator=rng()))
    assert sorted(order) == [1, 3, 7, 9] and len(order) == 4


def test_weighted_random_sampler_follows_the_weights():
    draws = list(data.WeightedRandomSampler([1.0, 0.0, 3.0], 4000, generator=rng()))
    counts = np.bincount(draws, minlength=3)
    assert counts[1] == 0
    assert abs(counts[2] / 4000 - 0.75) < 0.03  # 4 sigma of a binomial(4000, 0.75)
    unique = list(data.WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False, generator=rng()))
    assert sorted(unique) == [0, 1, 2]


def test_batch_sampler_groups_any_iterable():
    assert list(data.BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(data.BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert (
        len(data.BatchSampler(range(7), 3, False)) == 3
        and len(data.BatchSampler(range(7), 3, True)) == 2
    )
    batches = list(data.BatchSampler(data.SequentialSampler(range(4)), 2, False))
    assert batches == [[0, 1], [2, 3]] and isinstance(batches[0][0], int)


def test_user_sampler_with_only_iter():
    class Evens(data.Sampler):
        def __init__(self, data_source):
            super().__init__(data_source)  # as samplers written for PyTorch do

        def __iter__(self):
            return iter([0, 2, 4])

        def __len__(self):
            return 3

    assert list(data.BatchSampler(Evens(range(5)), 2, False)) == [[0, 2], [4]]
    np.testing.assert_array_equal(Evens(range(5)).index_array(), [0, 2, 4])


def test_overridden_iter_wins_over_index_array():
    class Reversed(data.SequentialSampler):
        def __iter__(self):
            return iter(range(len(self.data_source) - 1, -1, -1))

    assert list(data.BatchSampler(Reversed(range(5)), 2, False)) == [[4, 3], [2, 1], [0]]


def test_class_balanced_batches_hold_every_class():
    labels = np.array([0] * 50 + [1] * 5 + [2] * 2)  # class 2 is rare
    sampler = data.ClassBalancedBatchSampler(labels, batch_size=7, num_batches=25, generator=rng())
    batches = list(sampler)
    assert len(batches) == len(sampler) == 25
    for ids in batches:
        assert len(ids) == 7
        counts = np.bincount(labels[ids], minlength=3)
        assert counts.min() >= 2 and counts.max() <= 3  # 7 // 3 each, one extra for one class
    seen = np.concatenate(batches)
    assert set(seen[labels[seen] == 0]) == set(
        range(50)
    )  # >= 50 draws cycle through all of class 0


def test_class_balanced_default_length():
    sampler = data.ClassBalancedBatchSampler(np.arange(100) % 4, batch_size=8)
    assert len(sampler) == 12


def shards(n, replicas, epoch=0, **kw):
    out = []
    for rank in range(replicas):
        sampler = data.DistributedSampler(range(n), num_replicas=replicas, rank=rank, **kw)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
        assert len(sampler) == len(out[-1])
    return out


def test_distributed_shards_are_disjoint_and_cover():
    parts = shards(12, 3, seed=5)
    assert [len(p) for p in parts] == [4, 4, 4]
    assert sorted(sum(parts, [])) == list(range(12))  # disjoint and complete
    whole = np.random.default_rng(5).permutation(12)  # every rank shares one permutation
    for rank, part in enumerate(parts):
        assert part == whole[rank::3].tolist()


def test_distributed_pads_from_the_start():
    parts = shards(10, 4, shuffle=False)
    assert parts == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]  # padded with 0, 1
    parts = shards(2, 5, shuffle=False)  # padding longer than the dataset repeats it
    assert parts == [[0], [1], [0], [1], [0]]


def test_distributed_drop_last():
    parts = shards(10, 4, shuffle=False, drop_last=True)
    assert parts == [[0, 4], [1, 5], [2, 6], [3, 7]]
    sampled = sum(shards(10, 4, drop_last=True, seed=1), [])
    assert len(set(sampled)) == len(sampled) == 8


def test_distributed_reshuffles_per_epoch():
    epoch0, again, epoch1 = shards(20, 2, 0), shards(20, 2, 0), shards(20, 2, 1)
    assert epoch0 == again
    assert epoch0 != epoch1
    assert sorted(sum(epoch1, [])) == list(range(20))


def test_distributed_defaults_come_from_minigrad_distributed(monkeypatch):
    fake = types.SimpleNamespace(get_world_size=lambda: 4, get_rank=lambda: 2)
    monkeypatch.setitem(sys.modules, "minigrad.distributed", fake)
    monkeypatch.setattr(minigrad, "distributed", fake, raising=False)
    sampler = data.DistributedSampler(range(8), shuffle=False)
    assert (sampler.num_replicas, sampler.rank) == (4, 2)
    assert list(sampler) == [2, 6]
    assert data.DistributedSampler(range(8), rank=0).num_replicas == 4  # one given, one looked up


def test_bad_arguments():
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got"):
        data.RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        data.RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        data.WeightedRandomSampler([[1.0, 2.0]], 2)
    with pytest.raises(ValueError, match="weights must be finite, >= 0"):
        data.WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="only 1 are nonzero"):
        data.WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        data.BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        data.BatchSampler(range(3), 2, "no")
    with pytest.raises(ValueError, match="Invalid rank 3, rank should be in the interval"):
        data.DistributedSampler(range(3), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas should be a positive integer"):
        data.DistributedSampler(range(3), num_replicas=0, rank=0)
    with pytest.raises(ValueError, match="batch_size=2 cannot hold all 3 classes"):
        data.ClassBalancedBatchSampler([0, 1, 2], batch_size=2)
    with pytest.raises(ValueError, match="labels must be a non-empty 1-d sequence of int"):
        data.ClassBalancedBatchSampler([0.5, 1.0], batch_size=2)
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        data.RandomSampler(range(3), generator=3)
    with pytest.raises(NotImplementedError, match="defines neither"):
        data.Sampler().index_array()
