"""Collation: a list of samples becomes one batch, by PyTorch's default_collate rules.
Read samplers.py before this file and loader.py after it.

default_collate recurses through the structure of the first sample:
  Tensor / device array  -> stacked on its device: a new leading batch axis
  numpy array            -> np.stack, as a Tensor (string and object arrays are refused)
  numpy scalar           -> a (B,) Tensor of its dtype
  float / int / bool     -> a (B,) float64 / int64 / bool Tensor
  str / bytes            -> the list of them, unchanged
  dict (any Mapping)     -> {key: collate of that key's values}
  namedtuple             -> the same namedtuple of collated fields
  tuple / list           -> a list of collated fields (all samples equally long)
so (image, label) samples give [images (B, ...), labels (B,)], and dict samples a dict.
"""

import collections.abc
import copy

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)

# --------------------------------------------------------------------------- helpers


def _check_numeric(a):
    """Refuse string and object arrays (kinds S, a, U, O), as PyTorch does."""
    if a.dtype.kind in "SaUO":
        raise TypeError(COLLATE_ERROR.format(a.dtype))


def _stack_arrays(arrays):
    """Backend arrays of one shape, stacked on their (common) device as a Tensor."""
    return Tensor(backend.xp_of(arrays[0]).stack(arrays))


def _collate_mapping(elem, batch):
    """{key: collated values}, in the sample's own mapping type when it can be rebuilt."""
    fields = {key: default_collate([sample[key] for sample in batch]) for key in elem}
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(fields)
            return clone
        return type(elem)(fields)
    except TypeError:
        return fields


def _collate_sequence(elem, batch):
    """Collate position by position; tuples give lists, as in PyTorch."""
    size = len(elem)
    if any(len(sample) != size for sample in batch):
        raise RuntimeError("each element in list of batch should be of equal size")
    fields = [default_collate(list(column)) for column in zip(*batch)]
    if isinstance(elem, (tuple, list)):
        return fields
    try:
        return type(elem)(fields)
    except TypeError:
        return fields


# --------------------------------------------------------------------------- collate


def default_collate(batch):
    """One batch from a list of samples (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_arrays([sample.data for sample in batch])
    if isinstance(elem, np.ndarray):
        _check_numeric(elem)
        return Tensor(np.stack(batch))
    if backend.is_array(elem):
        return _stack_arrays(batch)
    if isinstance(elem, (np.bool_, np.number)):
        return Tensor(np.asarray(batch))
    if isinstance(elem, float):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        return Tensor(np.asarray(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _collate_mapping(elem, batch)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(column)) for column in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        return _collate_sequence(elem, batch)
    raise TypeError(COLLATE_ERROR.format(type(elem)))


def default_convert(data):
    """One sample made batch-ready without a batch axis (DataLoader with batch_size=None):
    numpy arrays and scalars become Tensors, containers are converted inside, the rest stays."""
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "SaUO" else Tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return Tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return [default_convert(d) for d in data]
    return data
