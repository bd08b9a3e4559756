"""The Optimizer base class: param groups, per-parameter state, one step and state_dict.
Read optimizers.py next: each optimizer there adds only its buffers and its update equations.

Every optimizer updates `param.data` in place with array-namespace operations: no graph, no
host sync. The step count is a plain Python int in each parameter's state, so bias corrections
are Python floats. The shared bookkeeping lives in Optimizer.step: it counts t, applies decoupled
weight decay and hands each `_update` the direction g. Below, g is the gradient, p the
parameter, η = lr and λ the weight decay.
"""

from minigrad import backend
from minigrad.tensor import Tensor, enable_grad

# --------------------------------------------------------------------------- helpers


def _decay_decoupled(p, group):
    """p ← p(1 − ηλ) for decoupled weight decay (AdamW, NAdamW, RAdamW); else nothing."""
    if group.get("decoupled_weight_decay", False):
        p.data *= 1.0 - group["lr"] * group["weight_decay"]


def _direction(p, group):
    """The gradient to descend: -g when maximizing, plus the coupled L2 term λp.

    After backward(create_graph=True) p.grad is a Tensor with a graph: its values are used."""
    g = p.grad.data if isinstance(p.grad, Tensor) else p.grad
    if group.get("maximize", False):
        g = -g
    weight_decay = group.get("weight_decay", 0.0)
    if weight_decay != 0 and not group.get("decoupled_weight_decay", False):
        g = g + weight_decay * p.data
    return g


def _copy_state_value(value, like):
    """A state value moved to the device of array `like`; float arrays take its dtype."""
    if not backend.is_array(value):
        return value
    is_float = backend.xp_of(value).isdtype(value.dtype, "real floating")
    dtype = backend.dtype_name(like.dtype) if is_float else None
    moved = backend.to_device(value, backend.device_of(like), dtype=dtype)
    return backend.xp_of(moved).asarray(moved, copy=True)


# --------------------------------------------------------------------------- Optimizer


class Optimizer:
    """Base class: param groups (each a dict of options plus "params"), per-param state.

    `params` is an iterable of tensors, or of dicts {"params": [...], "lr": ...} that give
    per-group options (e.g. a smaller lr for a pretrained backbone). Subclasses implement
    `_update(p, g, state, group)` for one parameter, `_init_state(p, state, group)` for its
    buffers and `_check_group(group)`."""

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or dicts, got one Tensor")
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            options = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {options}")
        return "\n".join(lines + [")"])

    def _check_group(self, group):
        """Raise ValueError naming a bad hyper-parameter of `group` (subclasses extend)."""
        self._check_nonnegative(group, "lr")

    def _check_nonnegative(self, group, *names):
        """Reject a negative option, naming it (e.g. 'Adam: lr must be >= 0, got -1')."""
        for name in names:
            if group[name] < 0:
                owner = type(self).__name__
                raise ValueError(f"{owner}: {name} must be >= 0, got {group[name]!r}")

    def add_param_group(self, param_group):
        """Append a group; options it leaves out come from the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer params must be Tensors, got {type(p).__name__}")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: None (the default, frees memory) or zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """One update of every parameter that requires grad and has a gradient.

        closure, if given, re-evaluates the model and returns the loss (run with grad on)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    self._init_state(p, state, group)
                state["step"] += 1
                _decay_decoupled(p, group)
                self._update(p, _direction(p, group), state, group)
        return loss

    def _init_state(self, p, state, group):
        """Create the per-parameter buffers (state["step"] is already 0)."""

    def _update(self, p, g, state, group):
        """Update p.data in place from g, the direction of _direction; state["step"] is t."""
        raise NotImplementedError

    def state_dict(self):
        """{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}, as PyTorch.

        Parameters are numbered in group order; arrays are the live state (not copies)."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what state_dict() returned; arrays move to each parameter's device."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state has {len(saved_groups)} param groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        by_index = {}
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"a loaded param group has {len(saved['params'])} params, "
                    f"the optimizer's has {len(group['params'])}"
                )
            by_index.update(zip(saved["params"], group["params"]))
        self.state = {}
        for i, saved_state in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {k: _copy_state_value(v, p.data) for k, v in saved_state.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
