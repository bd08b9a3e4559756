"""Tensor, Function and the reverse-mode engine: backward() walks the graph once, outputs first.
Read backend.py before this file and creation.py, ops.py after it.
"""

import math

from minigrad import backend

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
    broadcast shape: the engine sums it back to each input's shape."""

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
        out = fn.forward(*arrays, **kwargs)
        out = backend.as_array(out)  # NumPy reductions return scalars, not 0-d arrays
        if _state["anomaly"]:
            _check_finite(cls.__name__, out, "forward")
        result = Tensor(out)
        if any(fn.needs_input_grad):
            fn.parents = args
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


def _as_array(a, ref):
    """Tensor -> its array; Python scalars stay (weakly typed); arrays move to ref's device."""
    if isinstance(a, Tensor):
        return a.data
    if isinstance(a, list) or backend.is_array(a):
        return backend.to_device(a, ref.device, dtype=None)
    return a


# --------------------------------------------------------------------------- the engine


def _unbroadcast(grad, shape, dtype):
    """Sum `grad` over the axes that broadcasting added or stretched, back to `shape`."""
    if grad.shape != shape:
        xp = backend.xp_of(grad)
        lead = grad.ndim - len(shape)
        stretched = [lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1]
        axes = tuple(range(lead)) + tuple(stretched)
        grad = xp.reshape(xp.sum(grad, axis=axes), shape) if axes else xp.reshape(grad, shape)
    if grad.dtype != dtype:
        grad = backend.xp_of(grad).astype(grad, dtype)
    return grad


def _topological_order(root):
    """Nodes that need a gradient, every node after all the nodes it consumes (iterative DFS)."""
    order = []
    visited = set()
    stack = [(root, False)]
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
            for parent in node._ctx.parents:
                if isinstance(parent, Tensor) and parent.requires_grad:
                    stack.append((parent, False))
    return order


def _run_backward(root, dout, retain_graph):
    """Propagate `dout` from `root` to every leaf; each node's backward runs exactly once."""
    grads = {id(root): dout}
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        fn = node._ctx
        if node._freed:
            raise RuntimeError(
                "backward() through a part of the graph that an earlier backward() already "
                "freed; pass retain_graph=True to the first call to backward twice"
            )
        if fn is None or node._retain_grad:
            _accumulate(node, g)
        if fn is None:
            continue
        input_grads = fn.backward(g)
        if _state["anomaly"]:
            for dx in input_grads:
                if dx is not None:
                    _check_finite(type(fn).__name__, dx, "backward")
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


def _accumulate(node, g):
    """node.grad += g. The first gradient is copied: backward may hand one array to many nodes."""
    xp = backend.xp_of(g)
    if node.grad is None:
        node.grad = xp.asarray(g, copy=True)
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


class _ToShortcuts:
    """PyTorch's shorthands for .to(), shared by Tensor (returns a copy) and Module (in place)."""

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")


class Tensor(_ToShortcuts):
    """An array on a device, plus what autograd needs: grad, requires_grad and the creating op."""

    __array_priority__ = 100  # so that ndarray + Tensor calls Tensor.__radd__
    _post_accumulate_hooks = None  # a dict once a hook is registered

    def __init__(self, data, requires_grad=False):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._ctx = None
        self._retain_grad = False
        self._freed = False

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
        return self._ctx is None

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

        cpu(), cuda(), float() and double() call it (see _ToShortcuts)."""
        return ops.to(self, device or self.device, dtype)

    def detach(self):
        """The same data with no history: a leaf that does not require grad."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.startswith("float"):
            raise TypeError(f"only float tensors can require grad, this one is {self.dtype}")
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
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        key = object()
        self._post_accumulate_hooks[key] = hook
        return RemovableHandle(self._post_accumulate_hooks, key)

    def zero_(self):
        self.data = self.data * 0
        return self

    # ----- autograd
    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's .grad, weighted by `gradient`."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (no graph)")
        xp = backend.xp_of(self.data)
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a one-element output, got shape "
                    f"{self.shape}; pass gradient= of the same shape"
                )
            dout = xp.ones(self.data.shape, dtype=self.data.dtype, device=self.data.device)
        else:
            data = gradient.data if isinstance(gradient, Tensor) else gradient
            dout = backend.to_device(data, self.device, dtype=self.dtype)
            if tuple(dout.shape) != self.shape:
                raise ValueError(
                    f"backward(): gradient has shape {tuple(dout.shape)}, expected {self.shape}"
                )
        _run_backward(self, dout, retain_graph)

    # ----- operators (the math lives in ops.py)
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

    # ----- methods, written out: each is one op in ops.py
    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)

    def clamp(self, min=None, max=None):
        return ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return ops.maximum(self, other)

    def minimum(self, other):
        return ops.minimum(self, other)

    def sum(self, dim=None, keepdim=False):
        return ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.mean(self, dim, keepdim)

    def var(self, dim=None, keepdim=False, correction=1):
        return ops.var(self, dim, keepdim, correction)

    def std(self, dim=None, keepdim=False, correction=1):
        return ops.std(self, dim, keepdim, correction)

    def amax(self, dim=None, keepdim=False):
        return ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return ops.amin(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return ops.min(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return ops.argmin(self, dim, keepdim)

    def reshape(self, *shape):
        return ops.reshape(self, _shape_args(shape))

    def view(self, *shape):
        return ops.reshape(self, _shape_args(shape))

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return ops.permute(self, _shape_args(dims))

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return ops.unsqueeze(self, dim)

    def expand(self, *shape):
        return ops.expand(self, _shape_args(shape))

    def broadcast_to(self, shape):
        return ops.expand(self, tuple(shape))

    def matmul(self, other):
        return ops.matmul(self, other)

    def astype(self, dtype):
        return ops.to(self, self.device, dtype)


def _shape_args(args):
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


from minigrad import ops  # noqa: E402  (ops builds on Tensor and Function above)
