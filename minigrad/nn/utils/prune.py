"""Pruning with PyTorch's names and mechanics (torch.nn.utils.prune): a pruned tensor `weight`
becomes weight_orig (the Parameter that trains) times weight_mask (a buffer). Read fusion.py next.

    prune.l1_unstructured(layer, "weight", amount=0.3)   # zero the 30% smallest |w|
    layer.weight_orig, layer.weight_mask                 # the state dict holds both
    prune.remove(layer, "weight")                        # bake the zeros in: weight is a Parameter

A forward pre-hook recomputes layer.weight = weight_orig * weight_mask before every forward,
so the gradient reaches weight_orig only where the mask is 1 and the pruned entries stay zero.
Pruning the same tensor again composes, as PyTorch's PruningContainer does: the new amount is
a share of the entries (or channels) that are still unpruned, and the masks multiply.

`amount` is an int (that many entries/channels) or a float in [0, 1] (that fraction, rounded).
Masks are computed with ranks on the tensor's device; ties go to the earlier entry.
"""

import numbers
from collections.abc import Iterable

from minigrad import backend
from minigrad.tensor import Tensor, no_grad

# --------------------------------------------------------------------------- helpers


def _validate_amount_init(amount):
    """PyTorch's checks (and messages) on the amount a pruning method is built with."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    integral = isinstance(amount, numbers.Integral)
    if (integral and amount < 0) or (not integral and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(
            f"amount={amount} should either be a float in the range [0, 1] "
            "or a non-negative integer"
        )


def _nparams_to_prune(amount, size):
    """How many of `size` entries/channels to prune; an int amount may not exceed size."""
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(
                f"amount={amount} should be smaller than the number of parameters to prune={size}"
            )
        return int(amount)
    return round(amount * size)


def _count(xp, kept):
    """The number of True entries of a boolean array, as a Python int (one host sync)."""
    return int(backend.to_host(xp.sum(xp.astype(kept, xp.int64))))


def _ranks(xp, scores):
    """rank[i] = position of scores[i] in ascending order (ties: the earlier entry first)."""
    order = xp.argsort(scores, stable=True)
    return xp.argsort(order, stable=True)


def _prune_smallest(xp, scores, kept, k):
    """A 0/1 keep-indicator over flat `scores`: the k smallest among the `kept` entries go.

    Entries already pruned score +inf, so with k <= (number kept) they are never chosen."""
    inf = xp.asarray(float("inf"), dtype=scores.dtype, device=scores.device)
    ranks = _ranks(xp, xp.where(kept, scores, inf))
    return ranks >= k


def _channel_norms(xp, t, n, dim):
    """The L_n norm of every slice t[..., i, ...] along `dim` (n may be inf or -inf)."""
    moved = xp.moveaxis(t, dim, 0)
    rows = xp.reshape(moved, (moved.shape[0], -1))
    return xp.linalg.vector_norm(rows, ord=n, axis=1)


def _along(xp, flags, dim, ndim):
    """A per-channel vector shaped to broadcast along axis `dim` of an ndim-d tensor."""
    shape = [1] * ndim
    shape[dim] = flags.shape[0]
    return xp.reshape(flags, tuple(shape))


def _check_structured(t, dim):
    if t.ndim < 2:
        raise ValueError(
            "Structured pruning can only be applied to multidimensional tensors. "
            f"Found tensor of shape {tuple(t.shape)} with {t.ndim} dims"
        )
    if not -t.ndim <= dim < t.ndim:
        raise IndexError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")
    return dim % t.ndim


def _importance(orig, importance_scores, name):
    if importance_scores is None:
        return orig
    if tuple(importance_scores.shape) != tuple(orig.shape):
        raise ValueError(
            f"importance_scores should have the same shape as parameter {name}: "
            f"{tuple(importance_scores.shape)} != {tuple(orig.shape)}"
        )
    return importance_scores


def _pruning_hooks(module, name):
    """(key, method) of every pruning pre-hook acting on module.<name>."""
    return [
        (key, hook)
        for key, hook in module._forward_pre_hooks.items()
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name
    ]


def _attach(method, module, name):
    """Name the tensor `method` acts on; if it is already pruned, fold the old hook and the new
    method into one PruningContainer. Returns (method or container, the old hook's key)."""
    if not isinstance(getattr(module, name, None), Tensor):
        raise AttributeError(f"module {type(module).__name__} has no tensor named {name!r}")
    method._tensor_name = name
    hooks = _pruning_hooks(module, name)
    if not hooks:
        return method, None
    key, old = hooks[0]
    container = (
        PruningContainer(*old) if isinstance(old, PruningContainer) else PruningContainer(old)
    )
    container.add_pruning_method(method)
    return container, key


# --------------------------------------------------------------------------- methods


class BasePruningMethod:
    """One way to choose a mask; also the forward pre-hook that applies it to its tensor.

    compute_mask(t, default_mask) returns the new mask: default_mask (the mask so far) with
    more zeros, chosen from the still-unpruned part of the importance scores t."""

    PRUNING_TYPE = None
    _tensor_name = None

    def compute_mask(self, t, default_mask):
        raise NotImplementedError(f"{type(self).__name__} must define compute_mask()")

    def apply_mask(self, module):
        """weight_orig * weight_mask: the pruned tensor, with a graph back to weight_orig."""
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return orig * mask

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        """Prune module.<name> with cls(*args, **kwargs); composes with an earlier pruning."""
        method, old_key = _attach(cls(*args, **kwargs), module, name)
        orig = getattr(module, name)
        scores = _importance(orig, importance_scores, name)
        if old_key is None:
            default_mask = backend.xp_of(orig.data).ones_like(orig.data)
        else:
            default_mask = getattr(module, name + "_mask").data
        # the mask first: a bad amount raises here, before the module changes
        mask = method.compute_mask(scores.data, default_mask)
        if old_key is None:
            # the first pruning of this tensor: the Parameter moves to <name>_orig
            module.register_parameter(name + "_orig", orig)
            delattr(module, name)
            module.register_buffer(name + "_mask", Tensor(mask))
        else:
            del module._forward_pre_hooks[old_key]
            getattr(module, name + "_mask").data = mask  # keeps its place in the state dict
        setattr(module, name, method.apply_mask(module))
        module.register_forward_pre_hook(method)
        return method

    def remove(self, module):
        """Make the pruning permanent: <name> becomes a Parameter holding orig * mask."""
        name = self._tensor_name
        with no_grad():
            weight = self.apply_mask(module)
        if name in module.__dict__:
            delattr(module, name)
        orig = module._parameters[name + "_orig"]
        orig.data = weight.data
        del module._parameters[name + "_orig"]
        del module._buffers[name + "_mask"]
        setattr(module, name, orig)


class PruningContainer(BasePruningMethod):
    """The pruning history of one tensor; a new method prunes only what is still unpruned."""

    def __init__(self, *methods):
        self._pruning_methods = ()
        for method in methods:
            self.add_pruning_method(method)

    def add_pruning_method(self, method):
        if not isinstance(method, BasePruningMethod):
            raise TypeError(f"{type(method).__name__} is not a BasePruningMethod subclass")
        if self._tensor_name is None:
            self._tensor_name = method._tensor_name
        elif method._tensor_name != self._tensor_name:
            raise ValueError(
                f"can only add pruning methods acting on the parameter named "
                f"'{self._tensor_name}' to this PruningContainer, got '{method._tensor_name}'"
            )
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, index):
        return self._pruning_methods[index]

    def compute_mask(self, t, default_mask):
        return self._pruning_methods[-1].compute_mask(t, default_mask)


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones (a tensor made prunable without changing it)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class _Unstructured(BasePruningMethod):
    """Prune `amount` of the unpruned entries, those with the lowest scores(t)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_amount_init(amount)
        self.amount = amount

    def scores(self, t):
        raise NotImplementedError(f"{type(self).__name__} must define scores()")

    def compute_mask(self, t, default_mask):
        xp = backend.xp_of(t)
        kept = xp.reshape(default_mask, (-1,)) == 1
        k = _nparams_to_prune(self.amount, _count(xp, kept))
        if k == 0:
            return default_mask
        keep = _prune_smallest(xp, xp.reshape(self.scores(t), (-1,)), kept, k)
        flat = xp.reshape(default_mask, (-1,)) * xp.astype(keep, default_mask.dtype)
        return xp.reshape(flat, default_mask.shape)


class RandomUnstructured(_Unstructured):
    """Prune `amount` of the unpruned entries, chosen uniformly at random (minigrad's RNG)."""

    def scores(self, t):
        return backend.rand(t.shape, backend.device_of(t), backend.dtype_name(t.dtype))

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(_Unstructured):
    """Prune `amount` of the unpruned entries with the smallest |t|."""

    def scores(self, t):
        return backend.xp_of(t).abs(t)

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class _Structured(BasePruningMethod):
    """Prune `amount` of the unpruned channels along `dim` (a channel is the slice
    t[..., i, ...]; dim=0 of a conv weight: whole output filters), those with the lowest
    channel_scores."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _validate_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def channel_scores(self, t, dim):
        raise NotImplementedError(f"{type(self).__name__} must define channel_scores()")

    def compute_mask(self, t, default_mask):
        xp = backend.xp_of(t)
        dim = _check_structured(t, self.dim)
        axes = tuple(a for a in range(t.ndim) if a != dim)
        # a channel counts as unpruned while any of its entries survives (PyTorch's rule)
        alive = xp.sum(xp.abs(default_mask), axis=axes) != 0
        k = _nparams_to_prune(self.amount, _count(xp, alive))
        if k == 0:
            return default_mask
        keep = _prune_smallest(xp, self.channel_scores(t, dim), alive, k)
        return default_mask * _along(xp, xp.astype(keep, default_mask.dtype), dim, t.ndim)


class RandomStructured(_Structured):
    """Prune `amount` of the unpruned channels along `dim`, chosen at random."""

    def channel_scores(self, t, dim):
        return backend.rand((t.shape[dim],), backend.device_of(t), backend.dtype_name(t.dtype))

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(_Structured):
    """Prune `amount` of the unpruned channels along `dim` with the smallest L_n norm."""

    def __init__(self, amount, n, dim=-1):
        super().__init__(amount, dim)
        self.n = n

    def channel_scores(self, t, dim):
        return _channel_norms(backend.xp_of(t), t, self.n, dim)

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(
            module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores
        )


class CustomFromMask(BasePruningMethod):
    """Prune where a given 0/1 mask is 0 (multiplied into the mask so far)."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        mask = self.mask.data if isinstance(self.mask, Tensor) else self.mask
        mask = backend.to_device(mask, backend.device_of(t), backend.dtype_name(t.dtype))
        if tuple(mask.shape) != tuple(t.shape):
            raise ValueError(f"mask of shape {tuple(mask.shape)} for a tensor of shape {t.shape}")
        return default_mask * mask

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


# --------------------------------------------------------------------------- functions


def identity(module, name):
    """Make module.<name> prunable (weight_orig, weight_mask of ones) without pruning it."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    """Prune `amount` of module.<name>'s unpruned entries, chosen at random."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    """Prune `amount` of module.<name>'s unpruned entries with the smallest |importance|
    (default: the tensor itself)."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    """Prune `amount` of module.<name>'s unpruned channels along `dim`, chosen at random."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    """Prune `amount` of module.<name>'s unpruned channels along `dim` with the smallest L_n
    norm (n = 1, 2, inf, ...): ln_structured(conv, "weight", 0.5, n=2, dim=0) drops filters."""
    LnStructured.apply(
        module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores
    )
    return module


def custom_from_mask(module, name, mask):
    """Prune module.<name> where `mask` (same shape, 0/1) is 0."""
    CustomFromMask.apply(module, name, mask=mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prune across several tensors at once, as if concatenated: global_unstructured(
    [(fc1, "weight"), (fc2, "weight")], pruning_method=L1Unstructured, amount=0.2) drops the
    20% smallest of all their unpruned entries, however they fall between the layers."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores or {}
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(
            'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
            f"Found method {pruning_method} of type {method.PRUNING_TYPE}"
        )
    scores, masks = [], []
    for module, name in parameters:
        t = importance_scores.get((module, name), getattr(module, name))
        mask = getattr(module, name + "_mask", None)
        scores.append(t.data)
        masks.append(mask.data if mask is not None else backend.xp_of(t.data).ones_like(t.data))
    xp = backend.xp_of(scores[0])
    flat_scores = xp.concat([xp.reshape(s, (-1,)) for s in scores])
    flat_mask = xp.concat([xp.reshape(m, (-1,)) for m in masks])
    final = method.compute_mask(flat_scores, flat_mask)
    start = 0
    for (module, name), mask in zip(parameters, masks):
        size = mask.size
        custom_from_mask(module, name, xp.reshape(final[start : start + size], mask.shape))
        start += size


def remove(module, name):
    """Make module.<name>'s pruning permanent and drop <name>_orig, <name>_mask and the hook."""
    hooks = _pruning_hooks(module, name)
    if not hooks:
        raise ValueError(
            f"Parameter '{name}' of module {type(module).__name__} has to be pruned "
            "before pruning can be removed"
        )
    key, method = hooks[0]
    method.remove(module)
    del module._forward_pre_hooks[key]
    return module


def is_pruned(module):
    """Whether module or any submodule carries a pruning hook."""
    return any(
        isinstance(hook, BasePruningMethod)
        for _, sub in module.named_modules()
        for hook in sub._forward_pre_hooks.values()
    )
