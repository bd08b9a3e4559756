"""Indexing: x[index], gather/scatter along a dim, masked_fill, index_put (the value of
`x[index] = v`), argsort/sort/topk. Read shape_ops.py first; einsum.py next, then inplace.py
(it turns index_put, masked_fill and scatter into in-place updates).
"""

import builtins
import math

from minigrad import backend
from minigrad.ops import where
from minigrad.shape_ops import ValuesIndices, reshape, squeeze
from minigrad.tensor import Function, Tensor

# --------------------------------------------------------------------------- x[index]


def is_basic_index(index):
    """True for an index of ints, slices, None and Ellipsis only (a view, no copy)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


def _basic_items(index):
    """A basic index as a tuple that ends in Ellipsis: the array API wants every axis named."""
    items = index if isinstance(index, tuple) else (index,)
    return items if any(i is Ellipsis for i in items) else items + (Ellipsis,)


class BasicIndex(Function):
    """y = x[ints, slices];  dx = zeros with dout written into the same place"""

    view = True

    def forward(self, x, index):
        self.shape = x.shape
        # the write-back index leaves out None (new axes); dout is viewed without them
        self.setter = tuple(i for i in index if i is not None)
        self.inner_shape = x[self.setter].shape
        return x[index]

    def backward(self, dout):
        dx = self.xp.zeros(self.shape, dtype=dout.dtype, device=dout.device)
        dx[self.setter] = self.xp.reshape(dout, self.inner_shape)
        return (dx,)


class GatherIndex(Function):
    """y = x[integer arrays];  dx = zeros with dout ADDED in place (repeated indices add up)

    The k index arrays address the first k axes; they become one flat index into those axes
    merged, so one `take` gathers and one scatter-add undoes it on every backend."""

    constant = ("flat",)  # row ids made from the index, not from x

    def forward(self, x, index):
        xp = self.xp
        k = len(index)
        self.shape = x.shape
        flat = xp.zeros(xp.broadcast_arrays(*index)[0].shape, dtype=xp.int64, device=x.device)
        for i, n in zip(index, x.shape[:k]):
            flat = flat * n + xp.astype(i, xp.int64) % n  # % n: negative ids count from the end
        self.out_shape = flat.shape + x.shape[k:]
        self.flat = xp.reshape(flat, (-1,))
        self.merged = (math.prod(x.shape[:k]),) + x.shape[k:]
        y = xp.take(xp.reshape(x, self.merged), self.flat, axis=0)
        return xp.reshape(y, self.out_shape)

    def backward(self, dout):
        xp = self.xp
        dx = xp.zeros(self.merged, dtype=dout.dtype, device=dout.device)
        dout = xp.reshape(dout, (self.flat.shape[0],) + self.merged[1:])
        return (xp.reshape(_add_rows(dx, self.flat, dout), self.shape),)


def _device_index(item, device):
    """One advanced index item as integer arrays on `device`; host boolean masks allowed."""
    if isinstance(item, Tensor):
        if item.dtype == "bool" and item.device != "cpu":
            raise TypeError(
                "indexing with a boolean tensor on a device would need a host sync; "
                "use where(), or pass the mask as a NumPy array"
            )
        item = item.data
    if isinstance(item, list) or backend.is_array(item):
        return backend.index_arrays(item, device)
    return (item,)


def getitem(x, index):
    """x[index]: basic slicing, integer arrays (repeats allowed) and host boolean masks."""
    if is_basic_index(index):
        return BasicIndex.apply(x, _basic_items(index))
    items = index if isinstance(index, tuple) else (index,)
    if isinstance(items[0], int):  # x[0, ids] is x[0][ids]: the int removes the first axis
        return getitem(getitem(x, items[0]), items[1:])
    converted = []
    for item in items:
        converted.extend(_device_index(item, x.device))
    arrays = []
    while converted and backend.is_array(converted[0]):
        arrays.append(converted.pop(0))
    if not arrays or any(backend.is_array(i) for i in converted):
        raise IndexError(
            "integer-array indices must come first (x[ids, 1:3] works, x[1:3, ids] does not); "
            "index in two steps instead"
        )
    if len(arrays) > x.ndim:
        raise IndexError(f"too many index arrays ({len(arrays)}) for shape {x.shape}")
    for i, n in zip(arrays, x.shape):
        check_index_range(i, n)
    y = GatherIndex.apply(x, tuple(arrays))
    if not converted:
        return y
    # the remaining ints/slices address the axes after the indexed ones
    lead = y.ndim - (x.ndim - len(arrays))
    return getitem(y, (slice(None),) * lead + tuple(converted))


def check_index_range(index, size, allow_negative=True):
    """Raise for ids outside [-size, size) (or [0, size)): one host sync, like PyTorch's check."""
    xp = backend.xp_of(index)
    if index.shape and math.prod(index.shape) > 0:
        low = int(backend.to_host(xp.min(index)))
        high = int(backend.to_host(xp.max(index)))
        lowest = -size if allow_negative else 0
        if low < lowest or high >= size:
            bad = low if low < lowest else high
            raise IndexError(f"index {bad} is out of range for size {size}")


def split(x, split_size_or_sections, dim=0):
    """Pieces of x along dim: equal ones of the given size (the last may be smaller), or the
    listed sizes, which must add up to the dim's length."""
    dim = dim % builtins.max(x.ndim, 1)
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [builtins.min(step, n - start) for start in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n} (dim {dim} of {x.shape})")
    pieces = []
    start = 0
    for size in sizes:
        pieces.append(getitem(x, (slice(None),) * dim + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    """`chunks` pieces (or fewer) of equal size ceil(n / chunks) along dim, as PyTorch."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[dim % builtins.max(x.ndim, 1)]
    return split(x, builtins.max(1, -(-n // chunks)), dim)


# --------------------------------------------------------------------------- helpers


def _index_data(index):
    """An index given as a Tensor, array or list, as an array (a list lands on the host)."""
    data = index.data if isinstance(index, Tensor) else index
    return backend.to_device(data, "cpu") if isinstance(data, list) else data


def _index_array(index, device, fn):
    """An integer index (Tensor, array or list) as an int64 array on `device`."""
    data = _index_data(index)
    if backend.dtype_name(data.dtype) == "bool":
        raise TypeError(f"{fn}: index must hold integers, got booleans")
    (array,) = backend.index_arrays(data, device)
    return array


def _positions(xp, index, dim, shape):
    """Where each entry of `index` points in an array of `shape`, as a flat (row-major) offset:
    its own coordinates, with coordinate `dim` replaced by its value (gather's addressing)."""
    pos = xp.zeros(index.shape, dtype=xp.int64, device=index.device)
    for d, n in enumerate(shape):
        if d == dim:
            coord = index
        else:
            view = [1] * index.ndim
            view[d] = index.shape[d]
            coord = xp.reshape(xp.arange(index.shape[d], device=index.device), tuple(view))
        pos = pos * n + coord  # Horner's rule over the axes: the row-major offset
    return pos


def _along_dim(x, dim, index, fn):
    """Check gather/scatter arguments; return (dim, flat positions of index into x)."""
    dim = dim % x.ndim if x.ndim else 0
    array = _index_array(index, x.device, fn)
    if array.ndim != x.ndim:
        raise ValueError(f"{fn}: index has {array.ndim} dims, the tensor {x.ndim}")
    if any(m > n for d, (m, n) in enumerate(zip(array.shape, x.shape)) if d != dim):
        raise ValueError(
            f"{fn}: index shape {tuple(array.shape)} exceeds the tensor's {x.shape} "
            f"outside dim {dim}"
        )
    check_index_range(array, x.shape[dim], allow_negative=False)
    xp = backend.xp_of(array)
    return dim, _positions(xp, array, dim, x.shape)


def _take_flat(xp, a, flat):
    return xp.take(xp.reshape(a, (-1,)), flat, axis=0)


def _row_offsets(xp, rows, inner):
    """The flat offsets of every entry of rows `rows` of an array with `inner` entries a row:
    shape rows.shape + (inner,)."""
    return rows[..., None] * inner + xp.arange(inner, device=rows.device)


def _add_rows(out, flat, values):
    """out[flat[i]] += values[i] along axis 0, repeated ids adding up: in place on arrays.

    Under create_graph=True (values a Tensor) it is a ScatterAdd node instead: the transpose
    of a gather, whose own backward gathers again, so every order of derivative has a graph."""
    if flat.shape[0] == 0:
        return out  # nothing is sent (the portable scatter_add cannot take an empty index)
    if not isinstance(values, Tensor):
        return backend.scatter_add(out, flat, values)
    pos = _row_offsets(backend.xp_of(flat), flat, math.prod(out.shape[1:]))
    return ScatterAdd.apply(out, values.reshape(tuple(pos.shape)), pos)


def _scatter_sum(xp, n, flat, values, dtype):
    """A length-n array holding the sum of the values sent to each place."""
    out = xp.zeros((n,), dtype=dtype, device=values.device)
    return _add_rows(out, flat, xp.reshape(values, (-1,)))


# --------------------------------------------------------------------------- gather and scatter


class Gather(Function):
    """y = x at the flat positions `pos` (see _positions);  dx = dout added back into place"""

    constant = ("flat",)

    def forward(self, x, pos):
        self.shape = x.shape
        self.flat = self.xp.reshape(pos, (-1,))
        return self.xp.reshape(_take_flat(self.xp, x, self.flat), pos.shape)

    def backward(self, dout):
        dx = _scatter_sum(self.xp, math.prod(self.shape), self.flat, dout, dout.dtype)
        return self.xp.reshape(dx, self.shape), None


class Scatter(Function):
    """y = x with src written at the flat positions `pos` (values sent to one place are
    averaged: PyTorch leaves which one wins unspecified);
    dx = dout where nothing was written, dsrc = dout at its position / values sent there"""

    constant = ("flat", "keep", "count")  # all made from the positions alone

    def forward(self, x, src, pos):
        xp = self.xp
        self.flat = xp.reshape(pos, (-1,))
        if not backend.is_array(src):
            src = xp.full(pos.shape, src, dtype=x.dtype, device=x.device)
        ones = xp.ones(self.flat.shape, dtype=x.dtype, device=x.device)
        count = _scatter_sum(xp, math.prod(x.shape), self.flat, ones, x.dtype)
        total = _scatter_sum(xp, math.prod(x.shape), self.flat, src, x.dtype)
        hit = count > 0
        safe = xp.where(hit, count, xp.ones_like(count))
        mean = total / safe if xp.isdtype(x.dtype, "real floating") else total // safe
        self.keep = xp.reshape(xp.astype(~hit, x.dtype), x.shape)
        self.count = xp.take(count, self.flat, axis=0)
        self.pos_shape = pos.shape
        return xp.reshape(xp.where(hit, mean, xp.reshape(x, (-1,))), x.shape)

    def backward(self, dout):
        dsrc = _take_flat(self.xp, dout, self.flat) / self.count
        return dout * self.keep, self.xp.reshape(dsrc, self.pos_shape), None


class ScatterAdd(Function):
    """y = x + src added at the flat positions `pos`;  dx = dout, dsrc = dout at its position"""

    constant = ("flat",)

    def forward(self, x, src, pos):
        xp = self.xp
        self.flat = xp.reshape(pos, (-1,))
        self.pos_shape = pos.shape
        added = _scatter_sum(xp, math.prod(x.shape), self.flat, src, x.dtype)
        return x + xp.reshape(added, x.shape)

    def backward(self, dout):
        dsrc = self.xp.reshape(_take_flat(self.xp, dout, self.flat), self.pos_shape)
        return dout, dsrc, None


def gather(x, dim, index):
    """y[i][j][k] = x[i][index[i][j][k]][k] for dim=1 (PyTorch's gather); differentiable in x."""
    dim, pos = _along_dim(x, dim, index, "gather")
    return Gather.apply(x, pos)


def _source(x, pos, src, value, fn):
    """scatter's src as a Tensor cut to the index's shape (PyTorch reads only that part)."""
    if (src is None) == (value is None):
        raise TypeError(f"{fn}: give exactly one of src and value")
    if src is None or not isinstance(src, Tensor):
        return src if src is not None else value
    if any(m > n for m, n in zip(pos.shape, src.shape)) or src.ndim != pos.ndim:
        raise ValueError(f"{fn}: src shape {src.shape} is smaller than the index's {pos.shape}")
    return getitem(src, tuple(slice(0, m) for m in pos.shape))


def scatter(x, dim, index, src=None, *, value=None):
    """y = x with y[i][index[i][j]] = src[i][j] for dim=1 (PyTorch's scatter); src may be a
    Tensor or a number (value=)."""
    dim, pos = _along_dim(x, dim, index, "scatter")
    return Scatter.apply(x, _source(x, pos, src, value, "scatter"), pos)


def scatter_add(x, dim, index, src):
    """y = x with y[i][index[i][j]] += src[i][j] for dim=1; repeated indices add up."""
    dim, pos = _along_dim(x, dim, index, "scatter_add")
    src = _source(x, pos, src, None, "scatter_add")
    if not isinstance(src, Tensor):
        src = Tensor(backend.xp_of(pos).full(pos.shape, src, dtype=x.data.dtype, device=pos.device))
    return ScatterAdd.apply(x, src, pos)


# --------------------------------------------------------------------------- writing by index


class SetSlice(Function):
    """y = x with y[index] = value (a basic index);  dx = dout with the slice zeroed,
    dvalue = dout[index]"""

    def forward(self, x, value, index):
        xp = self.xp
        y = xp.asarray(x, copy=True)
        if backend.is_array(value):
            value = xp.astype(xp.broadcast_to(value, y[index].shape), y.dtype)
        y[index] = value
        self.index = index
        return y

    def backward(self, dout):
        dx = self.xp.asarray(dout, copy=True)
        dx[self.index] = 0
        return dx, dout[self.index], None


def masked_fill(x, mask, value):
    """y = value where mask is True, else x (mask broadcasts to x's shape)."""
    mask = _boolean_index(mask)
    if mask is None:
        raise TypeError("masked_fill: mask must be a boolean Tensor or array")
    shape = tuple(mask.shape)
    if len(shape) > x.ndim or any(m not in (1, n) for m, n in zip(shape[::-1], x.shape[::-1])):
        raise ValueError(f"masked_fill: mask shape {shape} does not broadcast to {x.shape}")
    y = where(mask, value, x)
    return y if y.dtype == x.dtype else y.to(dtype=x.dtype)


def _boolean_index(index):
    """The boolean mask array when `index` is one (a Tensor, array or list of bools), else None."""
    data = _index_data(index)
    if backend.is_array(data) and backend.dtype_name(data.dtype) == "bool":
        return data
    return None


def _index_put_arrays(x, index, value):
    """x[ids] = value for integer arrays on the leading axes, as a scatter on the flat array."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = [_index_array(i, x.device, "x[index] = value") for i in items]
    if len(arrays) > x.ndim:
        raise IndexError(f"too many index arrays ({len(arrays)}) for shape {x.shape}")
    xp = backend.xp_of(x.data)
    lead = xp.zeros(xp.broadcast_arrays(*arrays)[0].shape, dtype=xp.int64, device=arrays[0].device)
    for i, n in zip(arrays, x.shape):
        check_index_range(i, n)
        lead = lead * n + i % n  # % n: negative ids count from the end
    rest = x.shape[len(arrays) :]
    pos = _row_offsets(xp, lead, math.prod(rest))
    if isinstance(value, Tensor):
        value = value.expand(tuple(lead.shape) + rest).reshape(tuple(pos.shape))
    return Scatter.apply(x.reshape(-1), value, pos).reshape(x.shape)


def index_put(x, index, value):
    """The tensor that `x[index] = value` leaves, x itself unchanged: basic indices, boolean
    masks and integer arrays on the leading axes (as in x[index])."""
    if isinstance(value, Tensor) and value.device != x.device:
        value = value.to(x.device)
    mask = _boolean_index(index)
    if mask is not None:
        # a value that broadcasts over the selected entries is a masked fill (no host sync)
        if not isinstance(value, Tensor) or value.numel() == 1 or value.ndim <= x.ndim - mask.ndim:
            mask = backend.xp_of(mask).reshape(mask, mask.shape + (1,) * (x.ndim - mask.ndim))
            return masked_fill(x, mask, value)
        if backend.device_of(mask) != "cpu":
            raise TypeError(
                "x[mask] = values with a device mask would need a host sync; use "
                "masked_fill or where(), or pass the mask as a NumPy array"
            )
        index = tuple(Tensor(i) for i in backend.to_host(mask).nonzero())
    if is_basic_index(index):
        return SetSlice.apply(x, value, _basic_items(index))
    return _index_put_arrays(x, index, value)


# --------------------------------------------------------------------------- sorting


def argsort(x, dim=-1, descending=False, stable=False):
    """Indices that sort x along dim (ties keep their order: the sort is always stable)."""
    xp = backend.xp_of(x.data)
    data = x.data
    if backend.dtype_name(data.dtype) == "bool" or data.dtype == xp.uint8:
        data = xp.astype(data, xp.int64)
    # descending = ascending on -x, which keeps ties in order as PyTorch's stable sort does
    key = -data if descending else data
    return Tensor(xp.argsort(key, axis=dim % max(x.ndim, 1), stable=True))


def _gather_sorted(x, dim, indices):
    """gather() of indices that argsort made: they are in range by construction, so no range
    check (which reads the indices' min and max on the host)."""
    xp = backend.xp_of(x.data)
    return Gather.apply(x, _positions(xp, indices.data, dim % max(x.ndim, 1), x.shape))


def extreme_along(x, axis, keepdim, largest):
    """(values, indices) of the largest (or smallest) entry along a checked axis, as
    torch.max(x, dim): values is gathered at the indices, so its gradient goes to the returned
    index alone (amax splits it among ties)."""
    xp = backend.xp_of(x.data)
    if x.ndim == 0:  # PyTorch takes dim 0 or -1 here: the value itself, at index 0
        index = xp.zeros((), dtype=xp.int64, device=x.data.device)
        return ValuesIndices(reshape(x, ()), Tensor(index))
    pick = xp.argmax if largest else xp.argmin
    indices = Tensor(pick(x.data, axis=axis, keepdims=True))
    values = _gather_sorted(x, axis, indices)
    if keepdim:
        return ValuesIndices(values, indices)
    return ValuesIndices(squeeze(values, axis), Tensor(xp.squeeze(indices.data, axis=axis)))


def sort(x, dim=-1, descending=False, stable=False):
    """(values, indices) with values = x sorted along dim; values are differentiable."""
    indices = argsort(x, dim, descending, stable)
    return ValuesIndices(_gather_sorted(x, dim, indices), indices)


def topk(x, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (or smallest) entries along dim, in order."""
    dim = dim % max(x.ndim, 1)
    if not 0 <= k <= x.shape[dim] if x.ndim else k not in (0, 1):
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {x.shape[dim]}")
    order = argsort(x, dim, descending=largest)
    indices = getitem(order, (slice(None),) * dim + (slice(0, k),))
    return ValuesIndices(_gather_sorted(x, dim, indices), indices)
