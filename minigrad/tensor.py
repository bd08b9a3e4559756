"""Tensor, Function and the reverse-mode engine: backward() walks the graph once, outputs first,
running gradient hooks and refusing values changed in place since an op saved them (version
counters). Read backend.py before this file; tensor_methods.py, creation.py, ops.py after it.
"""

import math

from minigrad import backend
from minigrad.tensor_methods import TensorMethods, _ToShortcuts

_state = {"grad_enabled": True, "anomaly": False}


# --------------------------------------------------------------------------- grad mode


class _GradMode:
    """Context manager and decorator that sets whether operations record a graph."""

    enabled = True

    def __enter__(self):
        self._previous = _state["grad_enabled"]
        _state["grad_enabled"] = self.enabled

    def __exit__(self, *exc):
        _state["grad_enabled"] = self._previous

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)

        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return wrapper


class no_grad(_GradMode):
    """Inside `with no_grad():` no graph is built: outputs never require grad."""

    enabled = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a no_grad block."""

    enabled = True


def is_grad_enabled():
    return _state["grad_enabled"]


class detect_anomaly:
    """Inside `with detect_anomaly():` each op checks its output for NaN/inf and names itself.

    Costs one host sync per op, so it is off by default."""

    def __enter__(self):
        self._previous = _state["anomaly"]
        _state["anomaly"] = True

    def __exit__(self, *exc):
        _state["anomaly"] = self._previous


def _check_finite(name, array, phase):
    xp = backend.xp_of(array)
    if not backend.to_host(xp.all(xp.isfinite(array))):
        raise FloatingPointError(f"{name}.{phase} produced NaN or inf (detect_anomaly is on)")


# --------------------------------------------------------------------------- Function


class Function:
    """One differentiable op: forward(*arrays) -> array and backward(dout) -> input gradients.

    Both work on raw backend arrays. forward saves on `self` only what backward needs;
    backward returns one gradient per forward argument (None where there is none) in the
    broadcast shape: the engine sums it back to each input's shape.

    A view (reshape, permute, basic indexing) sets `view = True`: its output may share the
    input's array, so the two share one version counter.

    backward(create_graph=True) runs backward on Tensors, so that it records a graph of its
    own (autograd/graph.py): each saved array is replaced by the input or output Tensor it
    is, except those named in `constant` (masks and indices, constant wherever the op is
    differentiable). An op that saves other intermediates names instead a `reference`: a
    function of forward's arguments that computes the same value from primitives.

    The engine keeps on each node: needs_input_grad, parents, versions, output_counter,
    output_version and forward_arrays/kwargs/output; forward must not use those names."""

    view = False
    constant = ()
    reference = None

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on the arrays inside `args`; record the node if a gradient is needed.

        needs_input_grad is set before forward, so forward can skip saving what no one needs
        (under no_grad it saves nothing at all)."""
        fn = cls()
        ref = _first_tensor(args)
        arrays = [_as_array(a, ref) for a in args]
        fn.xp = backend.xp_of(ref.data)
        record = _state["grad_enabled"]
        fn.needs_input_grad = [record and isinstance(a, Tensor) and a.requires_grad for a in args]
        raw = fn.forward(*arrays, **kwargs)
        out = backend.as_array(raw)  # NumPy reductions return scalars, not 0-d arrays
        if _state["anomaly"]:
            _check_finite(cls.__name__, out, "forward")
        result = Tensor(out)
        if cls.view:  # shares ref's memory: one count of changes for both
            result._version_counter = ref._version_counter
            result._base = ref
        if any(fn.needs_input_grad):
            fn.parents = args
            # what forward saw and returned (create_graph=True tells saved arrays apart by them)
            fn.forward_arrays, fn.forward_kwargs, fn.forward_output = arrays, kwargs, raw
            fn.versions = _versions(args)
            fn.output_counter = result._version_counter
            fn.output_version = result._version_counter[0]
            result.requires_grad = True
            result._ctx = fn
        return result

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError


def _first_tensor(args):
    ref = None
    for a in args:
        if isinstance(a, Tensor):
            if ref is None:
                ref = a
            elif a.device != ref.device:
                raise ValueError(
                    f"tensors on different devices: {ref.device} and {a.device}; "
                    "move one with .to(device)"
                )
    if ref is None:
        raise TypeError("a Function needs at least one Tensor argument")
    return ref


def _versions(args):
    """The version of every Tensor argument (None for the rest), recorded when a node is built."""
    return [a._version_counter[0] if isinstance(a, Tensor) else None for a in args]


def _check_versions(fn):
    """Raise if an array this node may have saved was changed in place after it was built.

    One int compare per input (and one for the output, which ops like exp save). An input
    that a recorded in-place update moved on (inplace.py) is swapped for the value the node
    used, which that update kept unchanged."""
    if fn.versions == _versions(fn.parents) and fn.output_counter[0] == fn.output_version:
        return
    fn.parents = tuple(_as_seen(p, v) for p, v in zip(fn.parents, fn.versions))
    if fn.versions == _versions(fn.parents) and fn.output_counter[0] == fn.output_version:
        return
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: an input or the output of {type(fn).__name__} changed after "
        "the op saved it for backward; compute on a clone() or do the in-place change "
        "after backward()"
    )


def _as_seen(t, version):
    """The tensor `t` was at `version`, if a recorded in-place update kept it, else t."""
    earlier = t.__dict__.get("_earlier") if isinstance(t, Tensor) else None
    ref = earlier.get(version) if earlier else None
    seen = ref() if ref is not None else None
    return t if seen is None else seen


def _as_array(a, ref):
    """Tensor -> its array; Python scalars stay (weakly typed); arrays move to ref's device."""
    if isinstance(a, Tensor):
        return a.data
    if isinstance(a, list) or backend.is_array(a):
        return backend.to_device(a, ref.device, dtype=None)
    return a


# --------------------------------------------------------------------------- the engine


def namespace_of(value):
    """The array functions for `value`: its backend's namespace for an array, the graph-recording
    namespace of autograd/graph.py for a Tensor (a backward run with create_graph=True)."""
    return graph.namespace if isinstance(value, Tensor) else backend.xp_of(value)


def _unbroadcast(grad, shape, dtype):
    """Sum `grad` over the axes that broadcasting added or stretched, back to `shape`."""
    if grad.shape != shape:
        xp = namespace_of(grad)
        lead = grad.ndim - len(shape)
        stretched = [lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1]
        axes = tuple(range(lead)) + tuple(stretched)
        grad = xp.reshape(xp.sum(grad, axis=axes), shape) if axes else xp.reshape(grad, shape)
    if grad.dtype != dtype and backend.dtype_name(grad.dtype) != backend.dtype_name(dtype):
        grad = namespace_of(grad).astype(grad, dtype)
    return grad


def _topological_order(*roots, check_versions=False):
    """Nodes that need a gradient, every node after all the nodes it consumes (iterative DFS).

    With check_versions, each node's inputs are checked (and swapped for the values that
    recorded in-place updates kept) before the walk follows them."""
    order = []
    visited = set()
    stack = [(root, False) for root in roots]
    while stack:
        node, finished = stack.pop()
        if finished:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            if check_versions:
                _check_versions(node._ctx)
            for parent in node._ctx.parents:
                if isinstance(parent, Tensor) and parent.requires_grad:
                    stack.append((parent, False))
    return order


def _run_backward(roots, douts, retain_graph, wanted=None, create_graph=False):
    """Propagate each root's `dout` to every leaf; each node's backward runs exactly once.

    Gradients accumulate into leaves' .grad; with `wanted` (a dict keyed by id(tensor)) they
    are stored there instead, no .grad is touched, and no backward runs beyond the wanted
    tensors (autograd.grad). With create_graph the douts and every gradient are Tensors, and
    each backward records the graph of its math (even inside no_grad, as in PyTorch)."""
    order = _topological_order(*roots, check_versions=True)
    reaches = None if wanted is None else _reaching(order, wanted)
    if create_graph:
        with enable_grad():
            _backward_pass(order, roots, douts, retain_graph, wanted, reaches, create_graph)
    else:
        _backward_pass(order, roots, douts, retain_graph, wanted, reaches, create_graph)


def _reaching(order, wanted):
    """The ids of the nodes from which some wanted tensor can be reached through the graph."""
    reaches = set()
    for node in order:  # each node comes after the nodes it consumes
        if id(node) in wanted or _feeds(node._ctx, reaches):
            reaches.add(id(node))
    return reaches


def _feeds(fn, reaches):
    """True if one of node fn's inputs is in `reaches`."""
    return fn is not None and any(id(p) in reaches for p in fn.parents if isinstance(p, Tensor))


def _backward_pass(order, roots, douts, retain_graph, wanted, reaches, create_graph):
    grads = {}
    for root, dout in zip(roots, douts):
        previous = grads.get(id(root))
        grads[id(root)] = dout if previous is None else previous + dout
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        fn = node._ctx
        if node._freed:
            raise RuntimeError(
                "backward() through a part of the graph that an earlier backward() already "
                "freed; pass retain_graph=True to the first call to backward twice"
            )
        if node._hooks:
            g = _call_hooks(node, g)
        if wanted is not None:
            if id(node) in wanted:
                wanted[id(node)] = g
        elif fn is None or node._retain_grad:
            _accumulate(node, g)
        if fn is None or (reaches is not None and not _feeds(fn, reaches)):
            continue
        input_grads = graph.backward(fn, node, g) if create_graph else fn.backward(g)
        if _state["anomaly"]:
            for dx in input_grads:
                if dx is not None:
                    _check_finite(type(fn).__name__, _data(dx), "backward")
        for parent, dx in zip(fn.parents, input_grads):
            if dx is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                continue
            dx = _unbroadcast(dx, parent.shape, parent.data.dtype)
            previous = grads.get(id(parent))
            grads[id(parent)] = dx if previous is None else previous + dx
        if not retain_graph:
            # the saved arrays die here, so memory falls as backward proceeds
            node._ctx = None
            node._freed = True


def _data(value):
    """The array of a Tensor (a gradient under create_graph=True), or the array itself."""
    return value.data if isinstance(value, Tensor) else value


def _call_hooks(node, g):
    """Run the tensor's gradient hooks in order; a hook may return a replacement gradient."""
    in_graph = isinstance(g, Tensor)
    for hook in list(node._hooks.values()):
        result = hook(g if in_graph else Tensor(g))
        if result is None:
            continue
        if in_graph:
            g = result if isinstance(result, Tensor) else Tensor(result)
        else:
            g = result.data if isinstance(result, Tensor) else result
        if tuple(g.shape) != node.shape:
            raise ValueError(
                f"a gradient hook returned shape {tuple(g.shape)}, expected {node.shape}"
            )
    return g


def _accumulate(node, g):
    """node.grad += g. The first gradient is copied: backward may hand one array to many nodes.

    Under create_graph=True, g is a Tensor with a graph, and .grad becomes that Tensor."""
    if node.grad is None:
        node.grad = g if isinstance(g, Tensor) else backend.xp_of(g).asarray(g, copy=True)
    else:
        node.grad = node.grad + g
    if node._post_accumulate_hooks:
        for hook in list(node._post_accumulate_hooks.values()):
            hook(node)


# --------------------------------------------------------------------------- Tensor


class RemovableHandle:
    """Returned by the register_*_hook methods; remove() unregisters the hook."""

    def __init__(self, hooks, key):
        self._hooks = hooks
        self._key = key

    def remove(self):
        self._hooks.pop(self._key, None)


class Tensor(_ToShortcuts, TensorMethods):
    """An array on a device, plus what autograd needs: grad, requires_grad and the creating op.

    The methods that are one op each (x.exp(), x.sum(), x.add_(y)) are in tensor_methods.py."""

    __array_priority__ = 100  # so that ndarray + Tensor calls Tensor.__radd__
    _hooks = None  # gradient hooks: a dict once register_hook() is called
    _post_accumulate_hooks = None  # a dict once a hook is registered
    _base = None  # the tensor a view op made this one from

    def __init__(self, data, requires_grad=False):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._ctx = None
        self._retain_grad = False
        self._freed = False
        # in-place changes to `data` so far; a one-item list, shared with views and detach()
        self._version_counter = [0]

    # ----- properties
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return backend.dtype_name(self.data.dtype)

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        """True unless an op made this tensor (a backward that freed the op does not count)."""
        return self._ctx is None and not self._freed

    @property
    def _version(self):
        """How many in-place changes `data` has seen (PyTorch's t._version)."""
        return self._version_counter[0]

    @property
    def T(self):
        return ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return ops.transpose(self, -2, -1)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return math.prod(self.shape)

    def dim(self):
        return self.ndim

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        extra = ", requires_grad=True" if self.requires_grad else ""
        dev = "" if self.device == "cpu" else f", device='{self.device}'"
        body = backend.format_host(self.numpy(), prefix="tensor(")
        return f"tensor({body}{dev}, dtype={self.dtype}{extra})"

    # ----- host access and devices
    def numpy(self):
        """A host NumPy copy (or view, on cpu) of the data; syncs with the device."""
        return backend.to_host(self.data)

    def item(self):
        """The single value of a one-element tensor as a Python number (a host sync)."""
        if self.numel() != 1:
            raise ValueError(f"item() needs a one-element tensor, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device=None, dtype=None):
        """A copy on `device` and/or with `dtype`; differentiable, like PyTorch's .to().

        Returns self when nothing changes, as PyTorch does. to("float64") casts too.
        cpu(), cuda(), float() and double() call it (see _ToShortcuts)."""
        if isinstance(device, str) and device.startswith(("float", "int", "uint", "bool")):
            device, dtype = None, device
        device = backend.normalize_device(device or self.device)
        dtype = backend.dtype_name(dtype) if dtype is not None else self.dtype
        if device == self.device and dtype == self.dtype:
            return self
        return ops.to(self, device, dtype)

    def detach(self):
        """The same data with no history: a leaf that does not require grad."""
        t = Tensor(self.data)
        t._version_counter = self._version_counter  # one array: in-place changes show in both
        return t

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.startswith("float"):
            raise TypeError(f"only float tensors can require grad, this one is {self.dtype}")
        if not requires_grad and not self.is_leaf:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; use detach() "
                "for a copy of a non-leaf outside the graph"
            )
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor after backward (leaves always keep theirs)."""
        self._retain_grad = True

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) runs each time backward() has accumulated into this leaf's .grad.

        DistributedDataParallel starts its gradient reductions this way."""
        if not self.is_leaf:
            raise RuntimeError("post-accumulate-grad hooks can only be registered on leaf tensors")
        return _add_hook(self, "_post_accumulate_hooks", hook)

    # ----- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's .grad, weighted by `gradient`.

        create_graph=True records the backward pass itself: each .grad is then a Tensor with
        a graph, which can be differentiated again. retain_graph defaults to create_graph."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (no graph)")
        dout = _output_grad(self, gradient, create_graph)
        retain = create_graph if retain_graph is None else retain_graph
        _run_backward([self], [dout], retain, create_graph=create_graph)

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient is computed, before it is used or stored;
        it may return a replacement (a Tensor or array of the same shape). Returns a handle
        whose remove() unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        return _add_hook(self, "_hooks", hook)

    # ----- operators (the math lives in ops.py; x += y and x[i] = v are in tensor_methods.py)
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # comparisons give boolean tensors that never require grad
    def __lt__(self, other):
        return ops.compare(self, other, "less")

    def __le__(self, other):
        return ops.compare(self, other, "less_equal")

    def __gt__(self, other):
        return ops.compare(self, other, "greater")

    def __ge__(self, other):
        return ops.compare(self, other, "greater_equal")

    def __eq__(self, other):
        return ops.compare(self, other, "equal")

    def __ne__(self, other):
        return ops.compare(self, other, "not_equal")

    __hash__ = object.__hash__

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())


def _add_hook(t, table, hook):
    """Put `hook` in the dict t.<table> (made on first use); return its removal handle."""
    hooks = t.__dict__.setdefault(table, {})
    key = object()
    hooks[key] = hook
    return RemovableHandle(hooks, key)


def _output_grad(output, gradient, create_graph=False):
    """The gradient to start backward from: ones for a one-element output, else `gradient`.

    An array, or under create_graph a Tensor (the caller's own, so the graph can reach it)."""
    if create_graph:
        if isinstance(gradient, Tensor) and gradient.shape == output.shape:
            return gradient
        return Tensor(_output_grad(output, gradient))
    xp = backend.xp_of(output.data)
    if gradient is None:
        if output.numel() != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a one-element output, got shape "
                f"{output.shape}; pass gradient= of the same shape"
            )
        return xp.ones(output.data.shape, dtype=output.data.dtype, device=output.data.device)
    data = gradient.data if isinstance(gradient, Tensor) else gradient
    dout = backend.to_device(data, output.device, dtype=output.dtype)
    if tuple(dout.shape) != output.shape:
        raise ValueError(
            f"backward(): gradient has shape {tuple(dout.shape)}, expected {output.shape}"
        )
    return dout


from minigrad import ops  # noqa: E402  (ops builds on Tensor and Function above)
from minigrad.autograd import graph  # noqa: E402  (differentiates backward() itself)
