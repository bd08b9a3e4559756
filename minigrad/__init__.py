"""minigrad: a from-scratch deep-learning engine on NumPy (CPU) and CuPy (GPU).

Read in this order: backend.py, tensor.py, ops.py, functional/, nn/, optim/, data/, train.py;
the fast layer (fast/) last.

Process-wide setting applied on import: glibc's malloc keeps freed blocks up to 256 MiB for
reuse (fast.memory.keep_freed_memory), since a training step frees and re-allocates the same
big arrays every step. Set MINIGRAD_KEEP_FREED_MEMORY=0 before importing to keep the
allocator's defaults.
"""

from minigrad.fast import memory as _memory

if _memory.wanted():
    _memory.keep_freed_memory()

from minigrad import backend, data, diagnostics, nn, ops, optim, plots, train  # noqa: E402
from minigrad import functional as F  # noqa: N812
from minigrad.backend import cuda_available
from minigrad.creation import (
    arange,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from minigrad.gradcheck import gradcheck
from minigrad.ops import (
    abs,
    amax,
    amin,
    argmax,
    argmin,
    cat,
    clamp,
    concat,
    exp,
    expand,
    flatten,
    log,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    pad,
    permute,
    relu,
    reshape,
    sigmoid,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from minigrad.serialization import load, save
from minigrad.tensor import Function, Tensor, detect_anomaly, enable_grad, is_grad_enabled, no_grad

__version__ = "0.1.0"


def seed(n):
    """Seed every random number generator minigrad uses (all devices)."""
    backend.seed(n)
