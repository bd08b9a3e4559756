"""data: datasets (datasets.py), the DataLoader (loader.py) and batch transforms."""

from minigrad.data import preprocessing, transforms
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

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "MNIST",
    "DataLoader",
    "FashionMNIST",
    "Subset",
    "TensorDataset",
    "preprocessing",
    "random_split",
    "transforms",
]
