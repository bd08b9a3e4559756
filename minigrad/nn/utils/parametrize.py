"""Parametrizations (torch.nn.utils.parametrize): a layer's tensor computed on every access from
other tensors that train in its place. Read parametrizations.py (weight_norm) next.

    register_parametrization(layer, "weight", P())
    layer.weight                          # = P()(layer.parametrizations.weight.original)

The trained tensors move to layer.parametrizations.<name>.original — or original0, original1,
... when P has a right_inverse returning several (weight_norm's g and v) — so state-dict keys
match PyTorch's: "parametrizations.weight.original0". As in PyTorch, the layer's class is
swapped for a subclass with a property per parametrized name; removing the last
parametrization gives the original class back.
"""

from minigrad.nn.containers import ModuleDict, ModuleList
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import Tensor, no_grad

# --------------------------------------------------------------------------- helpers


def _as_original(value, like):
    """A new original: a Parameter when the tensor it replaces was one, else a plain Tensor."""
    data = value.data if isinstance(value, Tensor) else value
    if isinstance(like, Parameter):
        return Parameter(data, requires_grad=like.requires_grad)
    return Tensor(data)


def _register(module, name, value):
    """Put `value` on `module` as a parameter if it is one, else as a buffer."""
    if isinstance(value, Parameter):
        module.register_parameter(name, value)
    else:
        module.register_buffer(name, value)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, in order, and the originals they start from."""

    def __init__(self, modules, original, unsafe=False):
        super().__init__(modules)
        self.unsafe = unsafe
        with no_grad():
            new = self._right_inverse(original)
        self.is_tensor = isinstance(new, Tensor)
        if self.is_tensor:
            # keep the very Parameter object, so an optimizer built earlier still trains it
            original.data = new.data
            _register(self, "original", original)
            self.ntensors = 1
        else:
            for i, value in enumerate(new):
                _register(self, f"original{i}", _as_original(value, original))
            self.ntensors = len(new)

    def _right_inverse(self, value):
        """The originals that give `value`: each right_inverse, last parametrization first."""
        for module in reversed(list(self)):
            if hasattr(module, "right_inverse"):
                value = module.right_inverse(value)
        return value

    def right_inverse(self, value):
        """Set the originals so that the parametrized tensor equals `value` (in place)."""
        with no_grad():
            new = self._right_inverse(value)
            if self.is_tensor:
                self.original.data = new.data
                return
            for i, part in enumerate(new):
                getattr(self, f"original{i}").data = part.data

    def forward(self):
        first, *rest = list(self)
        if self.is_tensor:
            x = first(self.original)
        else:
            x = first(*[getattr(self, f"original{i}") for i in range(self.ntensors)])
        for module in rest:
            x = module(x)
        return x


def _parametrized_class(module):
    """Give `module` its own subclass (once), where the parametrized properties will live."""
    cls = type(module)
    if getattr(cls, "_is_parametrized_class", False):
        return cls
    new = type(f"Parametrized{cls.__name__}", (cls,), {"_is_parametrized_class": True})
    module.__class__ = new
    return new


def _property(name):
    def getter(self):
        return self.parametrizations[name]()

    def setter(self, value):
        self.parametrizations[name].right_inverse(value)

    return property(getter, setter)


def _check_unchanged(value, original):
    if tuple(value.shape) != tuple(original.shape) or value.dtype != original.dtype:
        raise ValueError(
            "Registering a parametrization may not change the shape or dtype of the tensor, "
            "unless `unsafe` flag is enabled.\n"
            f"unparametrized: shape {tuple(original.shape)}, dtype {original.dtype}\n"
            f"parametrized: shape {tuple(value.shape)}, dtype {value.dtype}"
        )


# --------------------------------------------------------------------------- public


def is_parametrized(module, tensor_name=None):
    """Whether `module` has any parametrization (or one on `tensor_name`)."""
    parametrizations = getattr(module, "parametrizations", None)
    if not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Compute module.<tensor_name> as parametrization(original) from now on; a second
    parametrization of the same tensor is applied to the first one's output."""
    if not isinstance(parametrization, Module):
        raise TypeError(f"parametrization must be a Module, got {type(parametrization).__name__}")
    if is_parametrized(module, tensor_name):
        module.parametrizations[tensor_name].append(parametrization)
        return module
    original = getattr(module, tensor_name, None)
    if not isinstance(original, Tensor):
        raise ValueError(
            f"Module '{type(module).__name__}' has no parameter or buffer with name '{tensor_name}'"
        )
    parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
    if not unsafe:
        _check_unchanged(parametrizations(), original)
    delattr(module, tensor_name)
    cls = _parametrized_class(module)
    if not is_parametrized(module):
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = parametrizations
    setattr(cls, tensor_name, _property(tensor_name))
    return module


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Undo the parametrization of `tensor_name`: it becomes a plain parameter again, holding
    the parametrized value (leave_parametrized=True) or the original."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(
            f"Module {type(module).__name__} does not have a parametrization on {tensor_name}"
        )
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with no_grad():
                original.data = getattr(module, tensor_name).data
    elif leave_parametrized:
        with no_grad():
            value = getattr(module, tensor_name)
        original = _as_original(value, parametrizations.original0)
    else:
        raise ValueError(
            "Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
            "parametrized in terms of a sequence of tensors."
        )
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _register(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module
