"""DistributedDataParallel: one model copy per process, gradients averaged as backward ends.
Read distributed.py before this file and sync_batchnorm.py after it.

Data parallelism in four steps, one process per core or GPU (`mpiexec -n 4 python train.py`):
  1. every rank starts from rank 0's parameters and buffers (broadcast at construction);
  2. every rank runs forward and backward on its own share of the global batch;
  3. as backward ends, every gradient is averaged over the ranks, so each rank holds the
     gradient of the mean loss over the whole global batch;
  4. every rank's optimizer takes the same step from the same state: the copies stay equal.

Step 3 is the only communication. Gradients are packed into a few large flat buffers
("buckets", in the reverse order of the parameters, roughly the order backward finishes
them) and each bucket is averaged with one all_reduce as soon as all its gradients are final.
"""

import contextlib
import time

from minigrad import backend, distributed
from minigrad.nn.module import Module
from minigrad.tensor import Tensor, _topological_order, is_grad_enabled


def _tensors_in(value):
    """Every Tensor inside a forward output (a Tensor, or tuples, lists and dicts of them)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors_in(item)]
    return []


class _Bucket:
    """Parameters whose gradients travel together in one flat buffer (same device and dtype)."""

    def __init__(self, params):
        self.params = params
        self.sizes = [p.numel() for p in params]
        self.flat = None
        self.ready = 0
        self.work = None

    def pack(self):
        """The bucket's gradients, each flattened in logical (C) order, in one buffer.
        A parameter without a gradient (unused in this forward) contributes zeros."""
        first = self.params[0].data
        xp = backend.xp_of(first)
        if self.flat is None:
            total = sum(self.sizes)
            self.flat = xp.empty((total,), dtype=first.dtype, device=first.device)
        offset = 0
        for p, n in zip(self.params, self.sizes):
            part = self.flat[offset : offset + n]
            if p.grad is None:
                part[...] = 0
            else:
                part[...] = xp.reshape(p.grad, (-1,))
            offset += n
        return self.flat

    def unpack(self):
        """Averaged gradients back into each .grad, in place (its memory layout is kept)."""
        xp = backend.xp_of(self.flat)
        offset = 0
        for p, n in zip(self.params, self.sizes):
            value = xp.reshape(self.flat[offset : offset + n], p.shape)
            if p.grad is None:
                p.grad = xp.asarray(value, copy=True)
            else:
                p.grad[...] = value
            offset += n


def _make_buckets(params, cap_bytes):
    """Consecutive parameters (in reverse order) grouped into buckets of at most cap_bytes;
    a bucket never mixes devices or dtypes."""
    buckets, current, size = [], [], 0
    for p in reversed(params):
        nbytes = p.numel() * p.data.dtype.itemsize
        key = (p.device, p.dtype)
        if current and (size + nbytes > cap_bytes or key != (current[0].device, current[0].dtype)):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training; after loss.backward() every rank's .grad
    holds the mean over ranks (PyTorch's semantics).

    bucket_cap_mb: the size of the flat gradient buffers reduced in one call.
    broadcast_buffers: send rank 0's buffers (BatchNorm's running statistics) to every rank
    at each training forward, so the copies also agree in eval mode.
    Parameters that a forward does not reach are found by walking its output's graph and
    count as zero gradients (find_unused_parameters is accepted for PyTorch's signature).
    device_ids and output_device are accepted and ignored: the module's device is used.
    state_dict() and load_state_dict() are the module's own (keys without a prefix)."""

    def __init__(
        self,
        module,
        device_ids=None,
        output_device=None,
        broadcast_buffers=True,
        bucket_cap_mb=25,
        find_unused_parameters=False,
    ):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got {module!r}")
        if not bucket_cap_mb > 0:
            raise ValueError(
                f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}"
            )
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self.comm_seconds = 0.0  # time in gradient reductions, packing included (benchmarks)
        params = [p for p in module.parameters() if p.requires_grad]
        self._params = params
        self._buckets = _make_buckets(params, bucket_cap_mb * 2**20)
        self._bucket_of = self._index_buckets()
        self._pending = self._started = False
        self._synced_forward = False  # the last forward armed a reduction
        self._sync_module_state()
        for p in params:
            p.register_post_accumulate_grad_hook(self._grad_ready)

    def _index_buckets(self):
        return {id(p): bucket for bucket in self._buckets for p in bucket.params}

    def _sync_module_state(self):
        """Rank 0's parameters and buffers on every rank."""
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            distributed.broadcast(t, src=0)

    # ----- forward: prepare this step's reduction
    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.training:
            for b in self.module.buffers():
                distributed.broadcast(b, src=0)
        out = self.module(*args, **kwargs)
        self._synced_forward = self._syncing()
        if self._synced_forward:
            self._prepare_reduction(out)
        return out

    def _syncing(self):
        return (
            distributed.get_world_size() > 1
            and self.require_backward_grad_sync
            and is_grad_enabled()
            and bool(self._params)
        )

    def _prepare_reduction(self, out):
        """Reset the buckets; parameters the output does not depend on are ready already.

        A forward whose backward never ran is forgotten; one whose backward reached only some
        parameters it should have is an error (the ranks' reductions would not match)."""
        if self._pending and self._started:
            raise RuntimeError(
                "DistributedDataParallel: the previous backward did not reach every parameter "
                "that the model's output depends on, so its gradients were never averaged: "
                "make the loss use every output of the model"
            )
        for bucket in self._buckets[: self._next if self._pending else 0]:
            bucket.work.wait()  # started at that forward (all its parameters unused)
        for bucket in self._buckets:
            bucket.ready = 0
        self._next = 0
        self._pending = True
        self._started = False
        reached = set()
        for t in _tensors_in(out):
            if t.requires_grad:
                reached.update(id(node) for node in _topological_order(t))
        for p in self._params:
            if id(p) not in reached:
                self._mark_ready(p)

    # ----- backward: each parameter's hook counts it; full buckets are reduced in order
    def _grad_ready(self, param):
        if isinstance(param.grad, Tensor):
            raise RuntimeError(
                "DistributedDataParallel does not support backward(create_graph=True): the "
                "averaged gradients would leave the graph; use autograd.grad for the inner "
                "derivative (e.g. a gradient penalty) and a plain backward() for the loss"
            )
        if self._pending:
            self._started = True
            self._mark_ready(param)
        elif self._synced_forward:
            raise RuntimeError(
                "DistributedDataParallel: a second backward through the same forward "
                "(retain_graph=True) would add gradients that are never averaged over the "
                "ranks: run a new forward for each backward, or sum the losses first"
            )

    def _mark_ready(self, param):
        self._bucket_of[id(param)].ready += 1
        # every rank must start its reductions in the same order: bucket 0, 1, 2, ...
        while self._next < len(self._buckets):
            bucket = self._buckets[self._next]
            if bucket.ready < len(bucket.params):
                return
            start = time.perf_counter()
            bucket.work = distributed.all_reduce(bucket.pack(), "avg", async_op=True)
            self.comm_seconds += time.perf_counter() - start
            self._next += 1
        self._finish_reduction()

    def _finish_reduction(self):
        start = time.perf_counter()
        for bucket in self._buckets:
            bucket.work.wait()
            bucket.unpack()
        self.comm_seconds += time.perf_counter() - start
        self._pending = False

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside this block only accumulates local gradients (gradient
        accumulation); the first backward after it averages everything accumulated."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ----- the wrapped module's own state
    def state_dict(self, prefix="", keep_vars=False):
        return self.module.state_dict(prefix=prefix, keep_vars=keep_vars)

    def load_state_dict(self, state_dict, strict=True):
        return self.module.load_state_dict(state_dict, strict=strict)

    def extra_repr(self):
        return f"world_size={distributed.get_world_size()}, buckets={len(self._buckets)}"
