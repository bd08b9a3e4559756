"""Full backward hooks (Module.register_full_backward_hook): identity Functions tap a module
call's inputs and output, so that backward shows the hooks grad_output, then grad_input.
Read module.py first; it is the only user.
"""

from minigrad.tensor import Function, Tensor

# --------------------------------------------------------------------------- one hooked call


class BackwardHookCall:
    """One module call with full backward hooks: gathers grad_output, then grad_input, then
    calls the hooks (module, grad_input, grad_output); tuples of Tensors (None where an input
    needs no gradient)."""

    def __init__(self, module, inputs):
        self.module = module
        self.wanted = [isinstance(t, Tensor) and t.requires_grad for t in inputs]
        self.grad_input = [None] * len(inputs)
        self.grad_output = None

    def output_grad(self, dout):
        self.grad_output = (Tensor(dout),)
        if not any(self.wanted):  # no input needs a gradient: the hooks run now
            self.run()

    def input_grad(self, position, dout):
        self.grad_input[position] = Tensor(dout)
        self.wanted[position] = False
        if any(self.wanted):
            return dout
        replaced = self.run()
        if replaced is None:
            return dout
        others = [i for i, g in enumerate(self.grad_input) if g is not None and i != position]
        if others:
            raise NotImplementedError(
                "a full backward hook may replace grad_input only for modules with one "
                "input that requires grad"
            )
        new = replaced[position]
        return new.data if isinstance(new, Tensor) else new

    def run(self):
        replaced = None
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, tuple(self.grad_input), self.grad_output)
            if result is not None:
                replaced = result
                self.grad_input = [r if isinstance(r, Tensor) else None for r in result]
        return replaced


class HookTap(Function):
    """y = x;  dx = dout, shown to the module's backward hooks on the way"""

    view = True

    def forward(self, x, call, position):
        self.call, self.position = call, position
        return x

    def backward(self, dout):
        if self.position is None:
            self.call.output_grad(dout)
            return dout, None, None
        return self.call.input_grad(self.position, dout), None, None


def tap_inputs(call, args):
    """The call's arguments, each Tensor that requires grad behind a HookTap at its position."""
    return tuple(
        HookTap.apply(a, call, i) if isinstance(a, Tensor) and a.requires_grad else a
        for i, a in enumerate(args)
    )


def tap_output(call, out):
    """The module's output behind a HookTap that reports grad_output to the call."""
    if not isinstance(out, Tensor):
        raise NotImplementedError(
            f"full backward hooks need a module that returns one Tensor, got {type(out).__name__}"
        )
    return HookTap.apply(out, call, None) if out.requires_grad else out
