"""The containers: Sequential (modules called one after another), ModuleList and ModuleDict,
which register their children so that parameters(), state_dict() and to() see them. Read
layers.py next.
"""

from collections import OrderedDict

from minigrad.nn.module import Module


class _Indexed(Module):
    """What Sequential and ModuleList share: integer indexing, len, iteration, append."""

    def _key(self, index):
        n = len(self._modules)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of {n}")
        return list(self._modules)[index % n]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)._from_items(list(self._modules.items())[index])
        return self._modules[self._key(index)]

    def __setitem__(self, index, module):
        self.add_module(self._key(index), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self


class Sequential(_Indexed):
    """Modules called one after another: Sequential(Linear(4, 8), ReLU(), Linear(8, 2)).

    Children are named "0", "1", ... unless one OrderedDict of name -> module is given."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
            return
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential: argument {i} is {type(module).__name__}, not a Module"
                )
            self.add_module(str(i), module)

    @classmethod
    def _from_items(cls, items):
        return cls(OrderedDict(items))  # a slice keeps the children's names, as in PyTorch

    def __delitem__(self, index):
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key(index)]
        for key in keys:
            del self._modules[key]

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleList(_Indexed):
    """A list of modules whose parameters are registered (a plain list would hide them)."""

    def __init__(self, modules=None):
        super().__init__()
        self.extend(modules or [])

    @classmethod
    def _from_items(cls, items):
        return cls([module for _, module in items])

    def _renumber(self, modules):
        self._modules.clear()
        self.extend(modules)

    def __delitem__(self, index):
        kept = list(self._modules.values())
        del kept[index]
        self._renumber(kept)

    def __iadd__(self, modules):
        return self.extend(modules)

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, in insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key):
        return self._modules.pop(key)

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module
