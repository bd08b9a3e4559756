"""minigrad: a from-scratch deep-learning engine on NumPy (CPU) and CuPy (GPU).

Read in this order (README.md's Reading order has every file): backend.py, tensor.py,
creation.py, ops.py, shape_ops.py, index_ops.py, inplace.py, functional/, autograd/, nn/,
optim/, data/, distributed.py, train.py; the fast layer (fast/) last.

Process-wide setting applied on import: glibc's malloc keeps freed blocks up to 256 MiB for
reuse (fast.memory.keep_freed_memory), since a training step frees and re-allocates the same
big arrays every step. Set MINIGRAD_KEEP_FREED_MEMORY=0 before importing to keep the
allocator's defaults.
"""

from minigrad.fast import memory as _memory

if _memory.wanted():
    _memory.keep_freed_memory()

from minigrad import (  # noqa: E402
    autograd,
    backend,
    data,
    diagnostics,
    distributed,
    index_ops,
    inplace,
    nn,
    ops,
    optim,
    plots,
    train,
    tune,
)
from minigrad import functional as F  # noqa: N812
from minigrad.backend import cuda_available
from minigrad.creation import (
    arange,
    empty,
    eye,
    from_numpy,
    full,
    linspace,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from minigrad.gradcheck import gradcheck, gradgradcheck
from minigrad.ops import (
    abs,
    amax,
    amin,
    argmax,
    argmin,
    argsort,
    cat,
    chunk,
    clamp,
    clone,
    concat,
    einsum,
    exp,
    expand,
    flatten,
    flip,
    gather,
    log,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    pad,
    permute,
    relu,
    repeat,
    reshape,
    roll,
    scatter,
    scatter_add,
    sigmoid,
    sort,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    tile,
    topk,
    transpose,
    unsqueeze,
    var,
    where,
)
from minigrad.serialization import load, save
from minigrad.tensor import Function, Tensor, detect_anomaly, enable_grad, is_grad_enabled, no_grad

__version__ = "0.1.0"

# dtypes under PyTorch's names; minigrad spells a dtype by its name, so x.dtype == mg.float32
float16 = half = "float16"
float32 = float = "float32"  # noqa: A001
float64 = double = "float64"
int32 = int = "int32"  # noqa: A001
int64 = long = "int64"
uint8 = "uint8"
bool = "bool"  # noqa: A001


def seed(n):
    """Seed every random number generator minigrad uses (all devices)."""
    backend.seed(n)


manual_seed = seed  # PyTorch's name
