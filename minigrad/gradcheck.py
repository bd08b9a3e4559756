"""gradcheck: compare an op's backward with central finite differences, in float64.
A public tool: check your own layers with it. Read testing.py next for inputs that suit it.

The loss differentiated is L = sum(out * g) with a RANDOM upstream gradient g: with g = 1
(a plain sum of outputs) BatchNorm's and softmax's input gradients are exactly zero, and a
check of them would pass whatever backward returned.
"""

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor, no_grad


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


def _analytic(fn, inputs, targets, upstream, device):
    """Gradients of L with respect to every target, by one backward pass."""
    for t in targets:
        t.grad = None
    outs = _outputs(fn(*inputs))
    if not outs:
        raise TypeError("gradcheck: fn returned no Tensor")
    if not any(o.requires_grad for o in outs):
        raise GradcheckError("gradcheck: the output does not depend on any input (no graph)")
    loss = None
    for o, g in zip(outs, upstream):
        if not o.requires_grad:
            continue
        term = (o * Tensor(backend.to_device(g.astype(np.float64), device))).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return [
        np.zeros(t.shape) if t.grad is None else backend.to_host(t.grad).copy() for t in targets
    ]


def _numeric_full(fn, inputs, upstream, target, name, analytic, eps, atol, rtol):
    """Perturb every entry of `target` by +-h; return failing rows and kinks."""
    data = target.data
    host = backend.to_host(data).copy()
    rows, kinks = [], []
    flat = host.reshape(-1)
    base = None
    for i in range(flat.size):
        x0 = flat[i]
        h = _step(x0, eps)
        values = []
        for shift in (h, -h):
            flat[i] = x0 + shift
            target.data = backend.to_device(host, backend.device_of(data))
            values.append(_weighted_loss(fn, inputs, upstream))
        flat[i] = x0
        target.data = data
        num = (values[0] - values[1]) / (2 * h)
        index = np.unravel_index(i, host.shape)
        ana = float(analytic[index])
        err = abs(num - ana)
        if err <= atol + rtol * abs(num):
            continue
        if base is None:
            base = _weighted_loss(fn, inputs, upstream)
        right = (values[0] - base) / h
        left = (base - values[1]) / h
        if abs(right - left) > 1e-3 * max(1.0, abs(right), abs(left)):
            kinks.append((name, tuple(int(j) for j in index), left, right))
        else:
            rows.append((name, tuple(int(j) for j in index), num, ana, err))
    return rows, kinks


def _numeric_fast(fn, inputs, upstream, targets, names, analytic, eps, atol, rtol, directions, rng):
    """Compare directional derivatives along random unit directions (cheap for big layers)."""
    rows = []
    for k in range(directions):
        dirs = [rng.standard_normal(t.shape) for t in targets]
        norm = np.sqrt(sum(float(np.sum(d * d)) for d in dirs)) or 1.0
        dirs = [d / norm for d in dirs]
        scale = max([1.0] + [float(np.max(np.abs(t.numpy()), initial=0)) for t in targets])
        h = eps if eps is not None else np.cbrt(np.finfo(np.float64).eps) * scale
        saved = [t.data for t in targets]
        values = []
        for sign in (1, -1):
            for t, d, s in zip(targets, dirs, saved):
                t.data = backend.to_device(backend.to_host(s) + sign * h * d, t.device)
            values.append(_weighted_loss(fn, inputs, upstream))
            for t, s in zip(targets, saved):
                t.data = s
        num = (values[0] - values[1]) / (2 * h)
        ana = float(sum(np.sum(a * d) for a, d in zip(analytic, dirs)))
        err = abs(num - ana)
        if err > atol + rtol * abs(num):
            rows.append(("+".join(names), f"direction {k}", num, ana, err))
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
    rng = np.random.default_rng(seed)
    leaves = [_leaf(v, device, dtype) for v in inputs]
    tensors = [t for t, _ in leaves]
    device = device or (tensors[0].device if tensors else "cpu")
    targets = [t for t, diff in leaves if diff]
    names = [f"input{i}" for i, (_, diff) in enumerate(leaves) if diff]
    params = list(params)
    saved_params = [p.data for p in params]
    for p in params:
        p.data = backend.to_device(p.numpy().astype(dtype), device)
    targets += params
    names += [f"param{i}" for i in range(len(params))]
    try:
        return _check(
            fn,
            tensors,
            targets,
            names,
            grad_outputs,
            mode,
            eps,
            atol,
            rtol,
            nondiff,
            device,
            directions,
            rng,
        )
    finally:
        for p, s in zip(params, saved_params):
            p.data = s
            p.grad = None


def _check(
    fn,
    tensors,
    targets,
    names,
    grad_outputs,
    mode,
    eps,
    atol,
    rtol,
    nondiff,
    device,
    directions,
    rng,
):
    before = [t.numpy().copy() for t in tensors]
    with no_grad():
        outs = _outputs(fn(*tensors))
    if grad_outputs is None:
        upstream = [rng.standard_normal(o.shape) for o in outs]
    else:
        given = grad_outputs if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
        upstream = [
            np.asarray(g.numpy() if isinstance(g, Tensor) else g, np.float64) for g in given
        ]
    analytic = _analytic(fn, tensors, targets, upstream, device)
    for t, b in zip(tensors, before):
        if not np.array_equal(t.numpy(), b, equal_nan=True):
            raise GradcheckError("gradcheck: fn modified one of its inputs in place")
    again = _analytic(fn, tensors, targets, upstream, device)
    for name, a, b in zip(names, analytic, again):
        if not np.allclose(a, b, rtol=1e-10, atol=1e-12):
            raise GradcheckError(f"gradcheck: backward is not repeatable for {name}")
    if mode == "fast":
        rows = _numeric_fast(
            fn, tensors, upstream, targets, names, analytic, eps, atol, rtol, directions, rng
        )
        kinks = []
    else:
        rows, kinks = [], []
        for t, name, ana in zip(targets, names, analytic):
            r, k = _numeric_full(fn, tensors, upstream, t, name, ana, eps, atol, rtol)
            rows += r
            kinks += k
    if kinks and nondiff == "raise":
        first = kinks[0]
        raise NonDifferentiableError(
            f"gradcheck: {len(kinks)} entries sit on a kink, e.g. {first[0]}{list(first[1])} "
            f"has left slope {first[2]:.6g} and right slope {first[3]:.6g}; draw inputs away "
            "from kinks (minigrad.testing.arrays(kinks=...)) or pass nondiff='skip'"
        )
    if rows:
        raise GradcheckError(
            _report(
                rows, f"gradcheck: {len(rows)} gradient entries differ (atol={atol}, rtol={rtol})"
            )
        )
    return True
