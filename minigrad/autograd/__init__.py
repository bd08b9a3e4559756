"""autograd: grad() returns gradients of outputs with respect to chosen inputs rather than
accumulating them into .grad; with create_graph=True they can be differentiated again (graph.py).
Read tensor.py first (it runs the same backward pass); graph.py, then functional.py next.
"""

from minigrad.autograd import functional  # jacobian, hessian, hvp...: they call grad below
from minigrad.tensor import Tensor, _output_grad, _run_backward


def _as_tuple(value, name):
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    for item in items:
        if item is not None and not isinstance(item, Tensor):
            raise TypeError(f"grad: {name} must be Tensors, got {type(item).__name__}")
    return items


def grad(
    outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False
):
    """d(sum of outputs * grad_outputs) / d(each input), as a tuple of Tensors (None for an
    unused input with allow_unused=True). No .grad is read or written.

    grad_outputs defaults to ones for one-element outputs; retain_graph defaults to
    create_graph, so the graph is freed unless asked otherwise. With create_graph=True the
    gradients carry a graph of their own: differentiate them again (graph.py)."""
    outputs = _as_tuple(outputs, "outputs")
    inputs = _as_tuple(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    grad_outputs = _as_tuple(grad_outputs, "grad_outputs")
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for t in outputs + inputs:
        if not t.requires_grad:
            raise RuntimeError(
                f"grad: every output and input must require grad; one of shape {t.shape} does not"
            )
    douts = [_output_grad(o, g, create_graph) for o, g in zip(outputs, grad_outputs)]
    wanted = {id(t): None for t in inputs}
    retain = create_graph if retain_graph is None else retain_graph
    _run_backward(list(outputs), douts, retain, wanted, create_graph)
    result = []
    for t in inputs:
        g = wanted[id(t)]
        if g is None and not allow_unused:
            raise RuntimeError(
                "grad: one of the differentiated Tensors appears to not have been used in the "
                "graph; pass allow_unused=True if this is expected"
            )
        result.append(g if g is None or isinstance(g, Tensor) else Tensor(g))
    return tuple(result)
