"""Data-loading snippets written once against a `data` module and run on torch_data and on
minigrad.data (skipped without torch): same batches, structure, dtypes, lengths and errors.
Random orders come from different generators, so random samplers are compared by what they
promise (lengths, sets), deterministic ones exactly."""

import collections

import numpy as np
import pytest

import minigrad
import minigrad.data

torch = pytest.importorskip("torch")
torch_data = pytest.importorskip("torch.utils.data")

Pair = collections.namedtuple("Pair", "image label")


def plain(batch):
    """A batch as nested builtins and (dtype name, values) pairs, comparable across libraries."""
    if isinstance(batch, (torch.Tensor, minigrad.Tensor)):
        values = batch.numpy()
        return (str(values.dtype), values.tolist())
    if isinstance(batch, dict):
        return {key: plain(value) for key, value in batch.items()}
    if isinstance(batch, Pair):
        return ("Pair", [plain(value) for value in batch])
    if isinstance(batch, (list, tuple)):
        return (type(batch).__name__, [plain(value) for value in batch])
    return batch


def both(snippet):
    """The snippet's result with torch.utils.data and with minigrad.data."""
    return plain(snippet(torch_data)), plain(snippet(minigrad.data))


class Records:
    """Samples of every kind default_collate knows."""

    def __init__(self, kind, n=5):
        self.kind = kind
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        image = np.arange(6, dtype=np.float32).reshape(2, 3) + i
        if self.kind == "dict":
            return {"image": image, "label": i, "weight": 0.5 * i, "name": f"n{i}"}
        if self.kind == "tuple":
            return image, i, np.int32(2 * i), [i, -i]
        return Pair(image, i)


@pytest.mark.parametrize("kind", ["dict", "tuple", "namedtuple"])
@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_batches_of_structured_samples(kind, drop_last):
    ours, theirs = both(lambda data: list(data.DataLoader(Records(kind), 2, drop_last=drop_last)))
    assert ours == theirs


def test_loader_batch_size_none_and_batch_sampler():
    def unbatched(data):
        return list(data.DataLoader(Records("tuple", 3), batch_size=None))

    def fixed(data):
        return list(data.DataLoader(Records("dict"), batch_sampler=[[4, 0], [2], [1, 3]]))

    for snippet in (unbatched, fixed):
        ours, theirs = both(snippet)
        assert ours == theirs


def test_tensor_dataset_loader():
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.arange(6)

    def snippet(data):
        tensor = torch.from_numpy if data is torch_data else minigrad.tensor
        loader = data.DataLoader(data.TensorDataset(tensor(x), tensor(y)), batch_size=4)
        return list(loader), len(loader)

    ours, theirs = both(snippet)
    assert ours == theirs


def test_deterministic_samplers():
    def snippet(data):
        sequential = list(data.SequentialSampler(range(7)))
        batches = list(data.BatchSampler(data.SequentialSampler(range(7)), 3, drop_last=False))
        dropped = list(data.BatchSampler(range(7), 3, drop_last=True))
        shards = []
        for n, replicas, drop_last in [(10, 4, False), (10, 4, True), (2, 5, False), (9, 3, True)]:
            for rank in range(replicas):
                sampler = data.DistributedSampler(
                    range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last
                )
                shards.append((list(sampler), len(sampler)))
        return sequential, batches, dropped, shards

    ours, theirs = both(snippet)
    assert ours == theirs


def test_random_samplers_keep_their_promises():
    def snippet(data):
        out = []
        for sampler in (
            data.RandomSampler(range(9)),
            data.RandomSampler(range(4), num_samples=10),
            data.RandomSampler(range(4), replacement=True, num_samples=6),
            data.SubsetRandomSampler([3, 8, 5]),
            data.WeightedRandomSampler([0.0, 1.0, 2.0], 500),
            data.WeightedRandomSampler([1.0, 1.0, 0.0, 1.0], 3, replacement=False),
        ):
            drawn = [int(i) for i in sampler]
            out.append((len(sampler), len(drawn), sorted(set(drawn))))
        loader = data.DataLoader(range(10), batch_size=3, shuffle=True)
        ids = sorted(int(i) for batch in loader for i in batch)
        out.append((len(loader), ids))
        return out

    ours, theirs = snippet(minigrad.data), snippet(torch_data)
    # equal except the values drawn with replacement, which need only be in range
    assert ours[2][:2] == theirs[2][:2] and set(ours[2][2]) <= {0, 1, 2, 3}
    del ours[2], theirs[2]
    assert ours == theirs


def test_same_errors():
    def messages(data):
        out = []
        for kwargs in (
            dict(sampler=data.SequentialSampler(range(4)), shuffle=True),
            dict(batch_sampler=[[0]], batch_size=2),
            dict(batch_sampler=[[0]], drop_last=True),
            dict(batch_size=None, drop_last=True),
        ):
            with pytest.raises(ValueError) as error:
                data.DataLoader(range(4), **kwargs)
            out.append(str(error.value))
        for make in (
            lambda: data.RandomSampler(range(3), num_samples=0),
            lambda: data.BatchSampler(range(3), 0, False),
            lambda: data.DistributedSampler(range(3), num_replicas=2, rank=2),
        ):
            with pytest.raises(ValueError) as error:
                make()
            out.append(str(error.value))
        return out

    ours, theirs = messages(minigrad.data), messages(torch_data)
    for mine, pytorchs in zip(ours, theirs):
        assert pytorchs in mine  # minigrad may name the class in front
