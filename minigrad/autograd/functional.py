"""autograd.functional: derivatives of a whole function at a point, PyTorch's names and semantics:
vjp, jvp, vhp, hvp, jacobian, hessian. Read autograd/__init__.py (grad) and graph.py first;
nn/ comes next.

Each is autograd.grad applied once or twice: a second derivative differentiates a first one
that was built with create_graph=True. `inputs` is a Tensor or a tuple of Tensors, and each
result has the same structure. Without create_graph the results carry no graph, and `func` runs
on detached copies of the inputs; with it, the results can be differentiated again, back to the
inputs. An input that an output does not depend on gets a zero derivative, or an error with
strict=True. jvp, a forward-mode product, uses the double-vjp trick: u -> J^T u is linear in u,
so differentiating it with respect to u along v gives J v. PyTorch's vectorize= and strategy=
(batched and forward-mode Jacobians) are not offered: a Jacobian is one backward pass a row.
"""

from minigrad import autograd
from minigrad.creation import eye, ones_like, zeros, zeros_like
from minigrad.shape_ops import reshape, stack
from minigrad.tensor import Tensor, enable_grad

# --------------------------------------------------------------------------- helpers


def _as_tuple(value, what, fname):
    """(was it a tuple, the Tensors as a tuple); anything but a Tensor or a tuple of them raises."""
    is_tuple = isinstance(value, tuple)
    items = value if is_tuple else (value,)
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {what}"
            raise TypeError(
                f"{fname}: {what} must be a Tensor or a tuple of Tensors, but {where} is a "
                f"{type(item).__name__}"
            )
    return is_tuple, items


def _unpack(values, is_tuple):
    return tuple(values) if is_tuple else values[0]


def _points(inputs, create_graph):
    """The Tensors func runs on. With create_graph, a view of each input that requires grad (so
    the results' graph reaches it, and an input passed twice gets two gradients); otherwise a
    detached copy that requires grad (the caller's graph is left alone)."""
    with enable_grad():  # also under no_grad: create_graph asks for a graph
        return tuple(
            x.view(x.shape) if create_graph and x.requires_grad else x.detach().requires_grad_()
            for x in inputs
        )


def _vectors(v, like, is_tuple, fname, like_name):
    """v as a tuple shaped like `like` (a function's inputs or outputs); None is allowed only
    for one Tensor with one element, and means 1."""
    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            raise RuntimeError(
                f"{fname}: v can be None only when the {like_name} is a single Tensor with a "
                f"single element; got shapes {[t.shape for t in like]}"
            )
        return (ones_like(like[0]),)
    _, vs = _as_tuple(v, "v", fname)
    if len(vs) != len(like):
        raise RuntimeError(f"{fname}: v holds {len(vs)} Tensors, the {like_name} {len(like)}")
    for i, (t, ref) in enumerate(zip(vs, like)):
        if t.shape != ref.shape:
            entry = f"v[{i}]" if is_tuple else "v"
            raise RuntimeError(
                f"{fname}: {entry} has shape {t.shape}, expected {ref.shape} (the {like_name})"
            )
    return vs


def _call(func, points, fname, strict):
    """(was the output a tuple, func's outputs as a tuple), recorded with grad on."""
    with enable_grad():
        result = func(*points)
    is_tuple, outputs = _as_tuple(result, "outputs of the function", fname)
    for i, out in enumerate(outputs):
        if strict and not out.requires_grad:
            raise RuntimeError(
                f"{fname}: output {i} of the function does not require grad (it does not "
                "depend on the inputs); strict=True forbids this"
            )
    return is_tuple, outputs


def _scalar(func, points, fname, strict):
    """func's output, checked to be one Tensor with one element (a Hessian needs a scalar)."""
    is_tuple, outputs = _call(func, points, fname, strict)
    if is_tuple:
        raise RuntimeError(f"{fname}: the function must return a single Tensor, not a tuple")
    if outputs[0].numel() != 1:
        raise RuntimeError(
            f"{fname}: the function must return a Tensor with a single element, got shape "
            f"{outputs[0].shape}"
        )
    return outputs[0]


def _derivative(outputs, inputs, weights, create_graph, strict, missing):
    """d(sum of outputs * weights) / d(each input), zero where nothing depends on an input
    (strict=True raises instead, with `missing` naming what is independent of what)."""
    pairs = [(o, w) for o, w in zip(outputs, weights) if o.requires_grad]
    wanted = [x for x in inputs if x.requires_grad]
    found = {}
    if pairs and wanted:
        with enable_grad():
            grads = autograd.grad(
                [o for o, _ in pairs],
                wanted,
                [w for _, w in pairs],
                retain_graph=True,
                create_graph=create_graph,
                allow_unused=True,
            )
        found = dict(zip(map(id, wanted), grads))
    result = []
    for i, x in enumerate(inputs):
        g = found.get(id(x))
        if g is None and strict:
            raise RuntimeError(missing.format(i=i) + "; strict=True forbids this")
        result.append(zeros_like(x) if g is None else g)
    return tuple(result)


def _finish(values, create_graph):
    """Results as returned: detached (no history) unless create_graph asked for one."""
    return tuple(values) if create_graph else tuple(t.detach() for t in values)


def _jacobian_block(fname, out, points, create_graph, strict):
    """d out / d each point: shape out.shape + point.shape, one backward pass per element
    of out, weighted by the matching row of the identity."""
    n = out.numel()
    if n == 0 or not out.requires_grad:  # (strict=True has refused the latter in _call)
        return tuple(zeros(*(out.shape + x.shape), dtype=x.dtype, device=x.device) for x in points)
    basis = eye(n, dtype=out.dtype, device=out.device)
    missing = fname + ": the output does not depend on input {i}"
    rows = [
        _derivative((out,), points, (reshape(basis[k], out.shape),), create_graph, strict, missing)
        for k in range(n)
    ]
    with enable_grad():
        return tuple(
            reshape(stack([row[j] for row in rows]), out.shape + x.shape)
            for j, x in enumerate(points)
        )


# --------------------------------------------------------------------------- products


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): one backward pass. v is shaped like func's output; None means 1
    for a one-element output."""
    is_in, xs = _as_tuple(inputs, "inputs", "vjp")
    points = _points(xs, create_graph)
    is_out, outputs = _call(func, points, "vjp", strict)
    vs = _vectors(v, outputs, is_out, "vjp", "function's output")
    missing = "vjp: the output does not depend on input {i}"
    result = _derivative(outputs, points, vs, create_graph, strict, missing)
    return _unpack(_finish(outputs, create_graph), is_out), _unpack(
        _finish(result, create_graph), is_in
    )


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v) by the double-vjp trick: u -> J^T u is built as a graph for a dummy
    u (its value does not matter: the map is linear), then differentiated along v. v is
    shaped like the inputs; None means 1 for one one-element input."""
    is_in, xs = _as_tuple(inputs, "inputs", "jvp")
    vs = _vectors(v, xs, is_in, "jvp", "input")
    points = _points(xs, create_graph)
    is_out, outputs = _call(func, points, "jvp", strict)
    us = tuple(zeros_like(o, requires_grad=o.requires_grad) for o in outputs)
    missing = "jvp: the output does not depend on input {i}"
    back = _derivative(outputs, points, us, True, strict, missing)
    missing = "jvp: output {i} does not depend on the inputs"
    result = _derivative(back, us, vs, create_graph, strict, missing)
    return _unpack(_finish(outputs, create_graph), is_out), _unpack(
        _finish(result, create_graph), is_out
    )


def _hessian_product(fname, func, inputs, v, create_graph, strict):
    """(func(inputs), v^T H) for a scalar func: the gradient of (gradient . v)."""
    is_in, xs = _as_tuple(inputs, "inputs", fname)
    vs = _vectors(v, xs, is_in, fname, "input")
    points = _points(xs, create_graph)
    out = _scalar(func, points, fname, strict)
    missing = fname + ": the output does not depend on input {i}"
    first = _derivative((out,), points, (None,), True, strict, missing)
    missing = fname + ": the gradient does not depend on input {i} (func is linear in it)"
    result = _derivative(first, points, vs, create_graph, strict, missing)
    return _finish((out,), create_graph)[0], _unpack(_finish(result, create_graph), is_in)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar func: two backward passes, no Hessian stored. v is
    shaped like the inputs; None means 1 for one one-element input."""
    return _hessian_product("vhp", func, inputs, v, create_graph, strict)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar func. The Hessian of a twice continuously
    differentiable function is symmetric, so H v = (v^T H)^T: vhp's two backward passes
    (PyTorch reaches the same value with a third, by the double-vjp trick)."""
    return _hessian_product("hvp", func, inputs, v, create_graph, strict)


# --------------------------------------------------------------------------- full matrices


def _jacobian(fname, func, inputs, create_graph, strict):
    """jacobian, with errors that name the public function `fname`."""
    is_in, xs = _as_tuple(inputs, "inputs", fname)
    points = _points(xs, create_graph)
    is_out, outputs = _call(func, points, fname, strict)
    blocks = []
    for out in outputs:
        block = _jacobian_block(fname, out, points, create_graph, strict)
        blocks.append(_unpack(_finish(block, create_graph), is_in))
    return _unpack(blocks, is_out)


def jacobian(func, inputs, create_graph=False, strict=False):
    """d func(inputs) / d inputs, one backward pass per output element (reverse mode).

    For output i and input j a Tensor of shape outputs[i].shape + inputs[j].shape; nested
    [i][j] when both are tuples, a tuple over whichever one is, a Tensor when neither is."""
    return _jacobian("jacobian", func, inputs, create_graph, strict)


def hessian(func, inputs, create_graph=False, strict=False):
    """d²func / d inputs² for a scalar func: the jacobian of its gradient (built with
    create_graph=True). For inputs i and j a Tensor of shape inputs[i].shape + inputs[j].shape,
    nested [i][j] when inputs is a tuple."""
    is_in, xs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*points):
        out = _scalar(func, points, "hessian", strict)
        missing = "hessian: the output does not depend on input {i}"
        return _derivative((out,), points, (None,), True, strict, missing)

    result = _jacobian("hessian", gradient, xs, create_graph, strict)
    return result if is_in else result[0][0]
