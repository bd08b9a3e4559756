"""Parameter and Module: how layers own parameters, buffers and sub-layers, save and load them.
Read containers.py next (Sequential, ModuleList, ModuleDict); backward_hooks.py holds the
machinery of register_full_backward_hook.

A Module registers what is assigned to it, in definition order: a Parameter goes to
_parameters, a Module to _modules, and tensors named by register_buffer to _buffers. Every
walk (parameters(), state_dict(), repr, to()) follows that order, so keys match PyTorch's:
"0.weight", "features.1.running_mean".
"""

import itertools
from collections import OrderedDict, namedtuple
from contextlib import contextmanager

from minigrad import backend
from minigrad.nn.backward_hooks import BackwardHookCall, tap_inputs, tap_output
from minigrad.tensor import RemovableHandle, Tensor, is_grad_enabled, no_grad
from minigrad.tensor_methods import _ToShortcuts

# --------------------------------------------------------------------------- helpers


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_hook_ids = itertools.count()


def _as_array(value):
    """A state-dict value (Tensor, NumPy or backend array, Python number) as an array."""
    if isinstance(value, Tensor):
        return value.data
    if backend.is_array(value):
        return value
    return backend.to_device(value, "cpu")


def _indent(text, spaces):
    """Indent every line of `text` but the first (for nested reprs)."""
    pad = " " * spaces
    return text.replace("\n", "\n" + pad)


def _is_dtype_name(value):
    return isinstance(value, str) and value.startswith(("float", "int", "uint", "bool"))


# --------------------------------------------------------------------------- Parameter


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable: requires_grad=True by default, float only."""

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        elif not backend.is_array(data):
            data = backend.to_device(data, "cpu", dtype=backend.DEFAULT_DTYPE)
        name = backend.dtype_name(data.dtype)
        if not name.startswith("float"):
            raise TypeError(f"Parameter: data must be a float array, got dtype {name}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


# --------------------------------------------------------------------------- Module


class Module(_ToShortcuts):
    """Base class of every layer: subclass it, assign parameters/sub-layers, write forward()."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        call = None
        if self._backward_hooks and is_grad_enabled():
            call = BackwardHookCall(self, args)
            args = tap_inputs(call, args)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out if call is None else tap_output(call, out)

    def register_forward_pre_hook(self, hook):
        """hook(module, inputs) runs before every forward; it may return new inputs."""
        key = next(_hook_ids)
        self._forward_pre_hooks[key] = hook
        return RemovableHandle(self._forward_pre_hooks, key)

    def register_forward_hook(self, hook):
        """hook(module, inputs, output) runs after every forward; it may return a new output."""
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    def register_full_backward_hook(self, hook):
        """hook(module, grad_input, grad_output) runs in backward once the gradients of this
        call's inputs are known; grad_input and grad_output are tuples of Tensors (None for an
        input that needs no gradient). It may return a tuple that replaces grad_input."""
        key = next(_hook_ids)
        self._backward_hooks[key] = hook
        return RemovableHandle(self._backward_hooks, key)

    # ----- registration
    def _check_initialized(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() is called; "
                "call super().__init__() first in your __init__"
            )

    def _discard(self, name):
        """Forget `name` wherever it was registered, so it can be registered anew."""
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            if self.__dict__.get("_parameters", {}).get(name) is value:
                return  # `m.weight -= ...` assigns the same Parameter back: keep its place
            self._check_initialized(name)
            self._discard(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._check_initialized(name)
            self._discard(name)
            self._modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(a Parameter or None expected)"
                )
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} "
                    "(a Tensor or None expected)"
                )
            self._buffers[name] = value
        elif "_modules" in self.__dict__ and name in self._modules and value is None:
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails: look in the registries
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._discard(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register `param` (a Parameter, or None for an absent one such as bias=False)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None")
        self._check_initialized(name)
        self._discard(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register state that is not trained (running means); persistent ones are saved."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}"
            )
        self._check_initialized(name)
        self._discard(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None")
        self._check_initialized(name)
        self._discard(name)
        self._modules[str(name)] = module

    register_module = add_module

    # ----- walking the tree
    def named_modules(self, memo=None, prefix=""):
        """(name, module) for self and every descendant, depth first; shared ones once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, table, prefix, recurse):
        seen = set()
        owners = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for owner_name, owner in owners:
            for name, value in owner.__dict__[table].items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{owner_name}.{name}" if owner_name else name), value

    def named_parameters(self, prefix="", recurse=True):
        """(name, Parameter) pairs in registration order; a shared parameter appears once."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True):
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def apply(self, fn):
        """Call fn(module) on every child (recursively), then on self, e.g. custom init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----- modes and gradients
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Forget accumulated gradients: None, or zeros in place with set_to_none=False (as
        Optimizer.zero_grad; multiplying by 0 would keep a NaN)."""
        for p in self.parameters():
            if p.grad is None or set_to_none:
                p.grad = None
            else:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ----- devices and dtypes
    def to(self, device=None, dtype=None):
        """Move (and/or cast) every parameter and buffer IN PLACE; returns self.

        The Parameter objects stay the same, so an optimizer built before to() keeps working.
        dtype casts float tensors only (an int step counter stays an int), as in PyTorch.
        cpu(), cuda(), float() and double() call it (see tensor_methods._ToShortcuts)."""
        if _is_dtype_name(device) and dtype is None:
            device, dtype = None, device
        if dtype is not None:
            dtype = backend.dtype_name(dtype)
            if not dtype.startswith("float"):
                raise TypeError(f"Module.to: dtype must be a float type, got {dtype}")
        if device is not None:
            device = backend.normalize_device(device)
        for t in list(self.parameters()) + list(self.buffers()):
            _move(t, device, dtype)
        return self

    # ----- saving and loading
    def _state_entries(self, prefix=""):
        """(key, tensor) for every parameter and persistent buffer, in PyTorch's key order."""
        for name, module in self.named_modules(prefix=prefix):
            dot = f"{name}." if name else ""
            for key, p in module._parameters.items():
                if p is not None:
                    yield dot + key, p
            for key, b in module._buffers.items():
                if b is not None and key not in module._non_persistent:
                    yield dot + key, b

    def state_dict(self, prefix="", keep_vars=False):
        """OrderedDict key -> backend array (the live data: copy it to keep a snapshot)."""
        state = OrderedDict()
        for key, t in self._state_entries(prefix):
            state[key] = t if keep_vars else t.data
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into parameters/buffers by key; Parameter objects keep their identity.

        strict=True raises one error naming every missing, unexpected and mis-shaped key.
        Returns (missing_keys, unexpected_keys)."""
        own = OrderedDict(self._state_entries())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        arrays = {k: _as_array(v) for k, v in state_dict.items() if k in own}
        mismatched = [
            f"{k}: checkpoint has shape {tuple(a.shape)}, the model has {own[k].shape}"
            for k, a in arrays.items()
            if tuple(a.shape) != own[k].shape
        ]
        problems = []
        if strict and missing:
            problems.append("missing key(s): " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
        if mismatched:
            problems.append("size mismatch for " + "; ".join(mismatched))
        if problems:
            raise RuntimeError(
                f"error(s) in loading state_dict for {type(self).__name__}:\n  "
                + "\n  ".join(problems)
            )
        for key, array in arrays.items():
            _copy_into(own[key], array)
        return IncompatibleKeys(missing, unexpected)

    # ----- printing
    def extra_repr(self):
        """The text inside this module's parentheses, e.g. 'in_features=2, out_features=3'."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            lines.append(f"({name}): {_indent(repr(child), 2)}")
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def summary(self, input_shape, device=None, dtype=None, print_fn=print):
        """Print (and return) a table of each leaf layer's output shape and parameter count.

        input_shape includes the batch dimension, e.g. (1, 1, 28, 28); device and dtype default
        to the first parameter's. One forward runs on zeros under no_grad in eval mode (so
        batch-norm statistics are left untouched); train/eval flags are restored after."""
        first = next(self.parameters(), None)
        device = device or (first.device if first is not None else "cpu")
        dtype = dtype or (first.dtype if first is not None else None)
        table = _summary_table(self, input_shape, device, dtype)
        if print_fn is not None:
            print_fn(table)
        return table


@contextmanager
def training_mode(model, training):
    """Run a block with every module of `model` in train (True) or eval (False) mode, or as it
    is (None); afterwards each module gets its own previous mode back (a BatchNorm that was
    frozen in eval mode inside a training model stays frozen)."""
    modes = [(m, m.training) for m in model.modules()]
    if training is not None:
        model.train(training)
    try:
        yield model
    finally:
        for module, mode in modes:
            object.__setattr__(module, "training", mode)


def copy_state_dict(state):
    """A snapshot of a state dict: every array copied on its own device (state_dict() hands
    out the live arrays, which the next optimizer step changes)."""
    return {k: backend.xp_of(v).asarray(v, copy=True) for k, v in state.items()}


def _move(t, device, dtype):
    """Replace t.data (and t.grad) by a copy on `device` with `dtype`, in place."""
    if dtype is not None and not t.dtype.startswith("float"):
        dtype = None
    target = device or t.device
    if target == t.device and (dtype is None or dtype == t.dtype):
        return
    t.data = backend.to_device(t.data, target, dtype=dtype)
    if t.grad is not None:
        t.grad = backend.to_device(t.grad, target, dtype=dtype)


def _copy_into(t, array):
    """Copy `array` into t's own array (moved to t's device, cast to its dtype; never aliased),
    so optimizers and earlier state_dict() results see the loaded values."""
    with no_grad():
        t.copy_(backend.to_device(array, t.device))


def _zeros(shape, device, dtype):
    xp = backend.namespace(device)
    dtype = backend._dtype(xp, dtype or backend.DEFAULT_DTYPE)
    return Tensor(xp.zeros(tuple(shape), dtype=dtype, device=backend.native_device(device)))


def _summary_rows(model, input_shape, device, dtype):
    """Run one forward on zeros with a hook on every leaf module; returns the table rows."""
    rows = []
    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]

    def recorder(name):
        def hook(module, inputs, output):
            shape = output.shape if isinstance(output, Tensor) else "-"
            count = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append((name or type(module).__name__, type(module).__name__, shape, count))

        return hook

    handles = [m.register_forward_hook(recorder(n)) for n, m in leaves]
    try:
        with training_mode(model, False), no_grad():
            model(_zeros(input_shape, device, dtype))
    finally:
        for handle in handles:
            handle.remove()
    return rows


def _summary_table(model, input_shape, device, dtype):
    rows = _summary_rows(model, input_shape, device, dtype)
    header = ("layer", "type", "output shape", "params")
    cells = [header] + [(n, t, str(tuple(s)) if s != "-" else s, f"{c:,}") for n, t, s, c in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    rule = "-" * (sum(widths) + 6)

    def line(row):
        return "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        )

    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    body = [line(header), rule] + [line(row) for row in cells[1:]] + [rule]
    body.append(f"total params: {total:,}   trainable: {trainable:,}")
    return "\n".join(body)
