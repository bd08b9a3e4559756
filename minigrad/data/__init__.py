"""data: datasets (datasets.py), samplers (samplers.py), collation (collate.py), the DataLoader
(loader.py) and batch transforms."""

from minigrad.data import preprocessing, transforms
from minigrad.data.collate import default_collate, default_convert
from minigrad.data.datasets import (
    CIFAR10,
    CIFAR100,
    MNIST,
    FashionMNIST,
    Subset,
    TensorDataset,
    random_split,
)
from minigrad.data.loader import DataLoader
from minigrad.data.samplers import (
    BatchSampler,
    ClassBalancedBatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "MNIST",
    "BatchSampler",
    "ClassBalancedBatchSampler",
    "DataLoader",
    "DistributedSampler",
    "FashionMNIST",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "preprocessing",
    "random_split",
    "transforms",
]
