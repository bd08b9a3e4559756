"""einsum: Einstein summation over labelled axes, differentiable in every operand.
Read index_ops.py before this file (matmul is the two-operand case); inplace.py next.

The gradient of one operand is itself an einsum: the upstream gradient contracted with the
other operands, labelled back to that operand's letters.
"""

import builtins

from minigrad.tensor import Function, Tensor


def _contract(xp, arrays, subs, out, sizes):
    """sum over the letters not in `out` of the product of the arrays, each labelled by its
    subscript; an `out` letter no array has is broadcast to its size (backward needs that)."""
    fast = getattr(xp, "einsum", None)
    shapes_agree = all(a.shape == tuple(sizes[c] for c in s) for a, s in zip(arrays, subs))
    if fast is not None and shapes_agree and set(out) <= set("".join(subs)):
        return fast(",".join(subs) + "->" + out, *arrays)
    letters = sorted(set("".join(subs)) | set(out))
    product = None
    for a, s in zip(arrays, subs):
        # lay every array out along all the letters (size 1 where it has none), then multiply
        laid_out = tuple(a.shape[s.index(c)] if c in s else 1 for c in letters)
        a = xp.permute_dims(a, tuple(sorted(range(len(s)), key=lambda i: letters.index(s[i]))))
        a = xp.reshape(a, laid_out)
        product = a if product is None else product * a
    summed = tuple(i for i, c in enumerate(letters) if c not in out)
    y = xp.sum(product, axis=summed, keepdims=True) if summed else product
    y = xp.broadcast_to(y, tuple(sizes[c] if c in out else 1 for c in letters))
    y = xp.reshape(y, tuple(sizes[c] for c in letters if c in out))
    kept = [c for c in letters if c in out]
    return xp.permute_dims(y, tuple(kept.index(c) for c in out))


class Einsum(Function):
    """y = einsum("subs -> out", *arrays);  d array_k = einsum("out, other subs -> subs_k")"""

    def forward(self, *arrays, subs, out, sizes):
        self.arrays, self.subs, self.out, self.sizes = arrays, subs, out, sizes
        return _contract(self.xp, arrays, subs, out, sizes)

    def backward(self, dout):
        grads = []
        for k, needed in enumerate(self.needs_input_grad):
            if not needed:
                grads.append(None)
                continue
            others = [a for i, a in enumerate(self.arrays) if i != k]
            other_subs = [s for i, s in enumerate(self.subs) if i != k]
            operands, labels = [dout] + others, [self.out] + other_subs
            grad = _contract(self.xp, operands, labels, self.subs[k], self.sizes)
            grads.append(grad)
        return tuple(grads)


def _expand_ellipsis(terms, ndims, free):
    """Replace '...' in each term by letters from `free`, right-aligned across terms."""
    widths = [n - (len(t) - 3) if "..." in t else 0 for t, n in zip(terms, ndims)]
    width = builtins.max(widths, default=0)
    letters = free[:width]
    expanded = [t.replace("...", letters[width - w :]) for t, w in zip(terms, widths)]
    return expanded, letters


def _parse_einsum(equation, shapes):
    """'bij,bjk->bik' -> (operand subscripts, output subscript, size of each letter)."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {equation!r} has {len(terms)} operands, got {len(shapes)}")
    free = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation)
    subs, ellipsis = _expand_ellipsis(terms, [len(s) for s in shapes], free)
    if not arrow:  # implicit output: the letters used once, in order
        once = sorted(c for c in set("".join(subs)) if "".join(subs).count(c) == 1)
        rhs = ellipsis + "".join(c for c in once if c not in ellipsis)
    out = rhs.replace("...", ellipsis)
    sizes = {}
    for s, shape in zip(subs, shapes):
        if len(s) != len(shape) or not all(c.isalpha() for c in s) or len(set(s)) != len(s):
            raise ValueError(
                f"einsum: subscript {s!r} does not fit an operand of shape {shape} "
                "(one distinct letter per dim; repeated letters are not supported)"
            )
        for c, n in zip(s, shape):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(f"einsum: letter {c!r} has sizes {sizes[c]} and {n}")
            sizes[c] = builtins.max(sizes.get(c, 1), n)
    if not set(out) <= set(sizes) or len(set(out)) != len(out):
        raise ValueError(f"einsum: output {rhs!r} must use distinct letters of the inputs")
    return subs, out, sizes


def einsum(equation, *operands):
    """Einstein summation, PyTorch's einsum: einsum("bij,bjk->bik", a, b) is a batched matmul.
    Letters, '...' and implicit outputs; differentiable in every operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands or not all(isinstance(t, Tensor) for t in operands):
        raise TypeError("einsum: operands must be Tensors")
    subs, out, sizes = _parse_einsum(equation, [t.shape for t in operands])
    return Einsum.apply(*operands, subs=subs, out=out, sizes=sizes)
