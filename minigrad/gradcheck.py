"""gradcheck: compare an op's backward with central finite differences, in float64, and
gradgradcheck: the same for its second derivatives (backward with create_graph=True).
A public tool: check your own layers with it. Read testing.py next for inputs that suit it.

The loss differentiated is L = sum(out * g) with a RANDOM upstream gradient g: with g = 1
(a plain sum of outputs) BatchNorm's and softmax's input gradients are exactly zero, and a
check of them would pass whatever backward returned.
"""

from dataclasses import dataclass

import numpy as np

from minigrad import backend
from minigrad.autograd import grad
from minigrad.creation import zeros_like
from minigrad.tensor import Tensor, enable_grad, no_grad


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message holds the worst entries."""


class NonDifferentiableError(GradcheckError):
    """An input sits on a kink (left and right slopes differ), where no gradient exists."""


# --------------------------------------------------------------------------- helpers


def _leaf(value, device, dtype):
    """A float64 leaf on `device` from a Tensor or array-like (integer tensors stay as they are)."""
    if isinstance(value, Tensor):
        device = device or value.device
        host = value.numpy()
    else:
        host = np.asarray(value)
        device = device or "cpu"
    if host.dtype.kind != "f":
        return Tensor(backend.to_device(host, device)), False
    t = Tensor(backend.to_device(host.astype(dtype), device))
    t.requires_grad = True
    return t, True


def _outputs(result):
    outs = result if isinstance(result, (tuple, list)) else (result,)
    return [o for o in outs if isinstance(o, Tensor)]


def _weighted_loss(fn, inputs, upstream):
    """L = sum(out_k * g_k) on the host, in float64, without building a graph."""
    with no_grad():
        outs = _outputs(fn(*inputs))
    return float(sum(np.sum(o.numpy().astype(np.float64) * g) for o, g in zip(outs, upstream)))


def _step(x, eps):
    """Central-difference step: cbrt(machine eps) scaled by max(1, |x|) (or the user's eps)."""
    if eps is not None:
        return eps
    return np.cbrt(np.finfo(np.float64).eps) * max(1.0, abs(x))


def _report(rows, title):
    rows = sorted(rows, key=lambda r: -r[4])[:10]
    lines = [title, f"{'input':>8} {'index':>16} {'numeric':>14} {'analytic':>14} {'error':>11}"]
    for name, index, num, ana, err in rows:
        lines.append(f"{name:>8} {str(index):>16} {num:>14.7g} {ana:>14.7g} {err:>11.3g}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the checks


@dataclass
class _Problem:
    """One check: fn, its inputs, the leaves to differentiate, the upstream gradient, tolerances."""

    fn: object
    inputs: list
    targets: list
    names: list
    device: str
    eps: float
    atol: float
    rtol: float
    upstream: list = None

    def loss(self):
        return _weighted_loss(self.fn, self.inputs, self.upstream)

    def passes(self, num, ana):
        return abs(num - ana) <= self.atol + self.rtol * abs(num)


def _analytic(problem):
    """Gradients of L with respect to every target, by one backward pass."""
    for t in problem.targets:
        t.grad = None
    outs = _outputs(problem.fn(*problem.inputs))
    if not outs:
        raise TypeError("gradcheck: fn returned no Tensor")
    if not any(o.requires_grad for o in outs):
        raise GradcheckError("gradcheck: the output does not depend on any input (no graph)")
    loss = None
    for o, g in zip(outs, problem.upstream):
        if not o.requires_grad:
            continue
        term = (o * Tensor(backend.to_device(g.astype(np.float64), problem.device))).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return [
        np.zeros(t.shape) if t.grad is None else backend.to_host(t.grad).copy()
        for t in problem.targets
    ]


def _numeric_full(problem, target, name, analytic):
    """Perturb every entry of `target` by +-h; return failing rows and kinks."""
    data = target.data
    host = backend.to_host(data).copy()
    rows, kinks = [], []
    flat = host.reshape(-1)
    base = None
    for i in range(flat.size):
        x0 = flat[i]
        h = _step(x0, problem.eps)
        values = []
        for shift in (h, -h):
            flat[i] = x0 + shift
            target.data = backend.to_device(host, backend.device_of(data))
            values.append(problem.loss())
        flat[i] = x0
        target.data = data
        num = (values[0] - values[1]) / (2 * h)
        index = np.unravel_index(i, host.shape)
        ana = float(analytic[index])
        if problem.passes(num, ana):
            continue
        if base is None:
            base = problem.loss()
        right = (values[0] - base) / h
        left = (base - values[1]) / h
        where = tuple(int(j) for j in index)
        # one-sided slopes that disagree mean a kink, not a wrong backward
        if abs(right - left) > 1e-3 * max(1.0, abs(right), abs(left)):
            kinks.append((name, where, left, right))
        else:
            rows.append((name, where, num, ana, abs(num - ana)))
    return rows, kinks


def _numeric_fast(problem, analytic, directions, rng):
    """Compare directional derivatives along random unit directions (cheap for big layers)."""
    rows = []
    targets = problem.targets
    for k in range(directions):
        dirs = [rng.standard_normal(t.shape) for t in targets]
        norm = np.sqrt(sum(float(np.sum(d * d)) for d in dirs)) or 1.0
        dirs = [d / norm for d in dirs]
        scale = max([1.0] + [float(np.max(np.abs(t.numpy()), initial=0)) for t in targets])
        h = problem.eps or np.cbrt(np.finfo(np.float64).eps) * scale
        saved = [t.data for t in targets]
        values = []
        for sign in (1, -1):
            for t, d, s in zip(targets, dirs, saved):
                t.data = backend.to_device(backend.to_host(s) + sign * h * d, t.device)
            values.append(problem.loss())
            for t, s in zip(targets, saved):
                t.data = s
        num = (values[0] - values[1]) / (2 * h)
        ana = float(sum(np.sum(a * d) for a, d in zip(analytic, dirs)))
        if not problem.passes(num, ana):
            rows.append(("+".join(problem.names), f"direction {k}", num, ana, abs(num - ana)))
    return rows


def gradcheck(
    fn,
    inputs,
    *,
    params=(),
    grad_outputs=None,
    mode="full",
    eps=None,
    atol=1e-6,
    rtol=1e-4,
    dtype="float64",
    nondiff="raise",
    device=None,
    directions=4,
    seed=0,
):
    """Check fn's backward against central differences; raise GradcheckError on a mismatch.

    fn(*tensors) returns a Tensor (or a tuple of them). `inputs` are arrays or Tensors: float
    ones are upcast to `dtype` and differentiated, integer ones passed as they are. `params`
    are extra leaves (a module's parameters), upcast in place for the check and restored.
    An entry passes when |numeric - analytic| <= atol + rtol * |numeric|. An entry on a kink
    raises NonDifferentiableError (nondiff="raise") or is left out (nondiff="skip").
    mode="fast" compares `directions` random directional derivatives instead of every entry.
    Also checks that backward is repeatable and that fn does not modify its inputs.
    Returns True when every check passes."""
    if mode not in ("full", "fast"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'fast', got {mode!r}")
    if nondiff not in ("raise", "skip"):
        raise ValueError(f"gradcheck: nondiff must be 'raise' or 'skip', got {nondiff!r}")
    leaves = [_leaf(v, device, dtype) for v in inputs]
    tensors = [t for t, _ in leaves]
    device = device or (tensors[0].device if tensors else "cpu")
    params = list(params)
    saved_params = [p.data for p in params]
    for p in params:
        p.data = backend.to_device(p.numpy().astype(dtype), device)
    problem = _Problem(
        fn,
        tensors,
        targets=[t for t, diff in leaves if diff] + params,
        names=[f"input{i}" for i, (_, diff) in enumerate(leaves) if diff]
        + [f"param{i}" for i in range(len(params))],
        device=device,
        eps=eps,
        atol=atol,
        rtol=rtol,
    )
    try:
        return _run(problem, grad_outputs, mode, nondiff, directions, np.random.default_rng(seed))
    finally:
        for p, s in zip(params, saved_params):
            p.data = s
            p.grad = None


def _upstream(problem, grad_outputs, rng):
    """The upstream gradient g of L = sum(out * g): given, or random normal."""
    if grad_outputs is None:
        with no_grad():
            outs = _outputs(problem.fn(*problem.inputs))
        return [rng.standard_normal(o.shape) for o in outs]
    given = grad_outputs if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
    return [np.asarray(g.numpy() if isinstance(g, Tensor) else g, np.float64) for g in given]


def _run(problem, grad_outputs, mode, nondiff, directions, rng):
    before = [t.numpy().copy() for t in problem.inputs]
    problem.upstream = _upstream(problem, grad_outputs, rng)
    analytic = _analytic(problem)
    for t, b in zip(problem.inputs, before):
        if not np.array_equal(t.numpy(), b, equal_nan=True):
            raise GradcheckError("gradcheck: fn modified one of its inputs in place")
    for name, a, b in zip(problem.names, analytic, _analytic(problem)):
        if not np.allclose(a, b, rtol=1e-10, atol=1e-12):
            raise GradcheckError(f"gradcheck: backward is not repeatable for {name}")
    rows, kinks = [], []
    if mode == "fast":
        rows = _numeric_fast(problem, analytic, directions, rng)
    else:
        for t, name, ana in zip(problem.targets, problem.names, analytic):
            more_rows, more_kinks = _numeric_full(problem, t, name, ana)
            rows += more_rows
            kinks += more_kinks
    if kinks and nondiff == "raise":
        name, index, left, right = kinks[0]
        raise NonDifferentiableError(
            f"gradcheck: {len(kinks)} entries sit on a kink, e.g. {name}{list(index)} "
            f"has left slope {left:.6g} and right slope {right:.6g}; draw inputs away "
            "from kinks (minigrad.testing.arrays(kinks=...)) or pass nondiff='skip'"
        )
    if rows:
        title = f"gradcheck: {len(rows)} gradient entries differ"
        raise GradcheckError(_report(rows, f"{title} (atol={problem.atol}, rtol={problem.rtol})"))
    return True


# --------------------------------------------------------------------------- second derivatives


def gradgradcheck(fn, inputs, *, params=(), grad_outputs=None, seed=0, **options):
    """Check fn's second derivatives (its backward with create_graph=True) numerically.

    The checked function is  (inputs, v) -> d(sum(fn(inputs) * v)) / d(float inputs, params),
    the first derivative as a graph, with v a random upstream gradient (or grad_outputs).
    It must first equal the plain backward's first derivative; then gradcheck differentiates
    it once more, against central differences of the first derivative, with a random
    grad-of-grad weight: so every second derivative, including the mixed ones with respect
    to v, is compared. `options` are gradcheck's (atol, rtol, eps, mode, nondiff, dtype,
    device, directions). Returns True or raises GradcheckError."""
    dtype = options.get("dtype", "float64")
    leaves = [_leaf(v, options.get("device"), dtype)[0] for v in inputs]
    upstream = _grad_outputs(fn, leaves, grad_outputs, np.random.default_rng(seed + 1))
    count = len(inputs)
    params = list(params)

    def first_derivative(*args, create_graph=True):
        xs, vs = args[:count], args[count:]
        with enable_grad():
            outs = _outputs(fn(*xs))
            pairs = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
            wrt = [t for t in list(xs) + params if t.requires_grad]
            outs, vs = [o for o, _ in pairs], [v for _, v in pairs]
            found = grad(outs, wrt, vs, create_graph=create_graph, allow_unused=True)
        return tuple(g if g is not None else zeros_like(t) for g, t in zip(found, wrt))

    vs = [Tensor(backend.to_device(u.astype(dtype), leaves[0].device)) for u in upstream]
    _compare_first_derivatives(first_derivative, leaves + vs, params, dtype, options)
    return gradcheck(first_derivative, list(inputs) + upstream, params=params, seed=seed, **options)


def _grad_outputs(fn, leaves, grad_outputs, rng):
    """The upstream gradient v as host arrays: given, or random normal like fn's outputs."""
    if grad_outputs is not None:
        given = grad_outputs if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
        return [g.numpy() if isinstance(g, Tensor) else np.asarray(g) for g in given]
    with no_grad():
        return [rng.standard_normal(o.shape) for o in _outputs(fn(*leaves))]


def _compare_first_derivatives(first_derivative, args, params, dtype, options):
    """The create_graph=True first derivative must equal the plain backward's (a fused op
    differentiated through a wrong reference would otherwise pass the second-order check)."""
    saved = [p.data for p in params]
    for p in params:
        p.data = backend.to_device(p.numpy().astype(dtype), p.device)
    try:
        pairs = zip(first_derivative(*args), first_derivative(*args, create_graph=False))
        for k, (with_graph, plain) in enumerate(pairs):
            a, b = with_graph.numpy(), plain.numpy()
            tol = options.get("atol", 1e-6) + options.get("rtol", 1e-4) * np.abs(b)
            if np.any(np.abs(a - b) > tol):
                raise GradcheckError(
                    f"gradgradcheck: the create_graph=True gradient of differentiable input "
                    f"{k} differs from the plain backward's by up to {np.max(np.abs(a - b)):.3g}"
                )
    finally:
        for p, s in zip(params, saved):
            p.data = s
            p.grad = None
