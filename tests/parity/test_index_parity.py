"""Indexing, shape and in-place ops against PyTorch in float64: values and gradients agree
(skipped without torch). PyTorch is an optional extra; minigrad never imports it."""

import numpy as np
import pytest
from helpers import assert_pairs_close, run_with_torch

import minigrad as mg
import minigrad.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((4, 5))
IMAGE = rng.standard_normal((2, 3, 6, 5))
IDX = np.array([[0, 3, 1], [2, 2, 0]])
PERM = np.array([[1, 0, 2, 3], [3, 2, 1, 0]])
MASK = A > 0.3


def both(ours, theirs):
    return ours, theirs


def recorded(update_mg, update_torch):
    """h = 2a (a graph tensor), changed in place, then used: the update is differentiated."""

    def ours(a, b):
        h = a * 2
        update_mg(h, b)
        return h * h

    def theirs(a, b):
        h = a * 2
        update_torch(h, b)
        return h * h

    return ours, theirs


CASES = {
    "gather": both(
        lambda a: a.gather(1, mg.tensor(IDX)), lambda a: a.gather(1, torch.from_numpy(IDX))
    ),
    "scatter": (
        lambda a, b: a.scatter(1, mg.tensor(PERM[:, :3]), b[:2, :3]),
        lambda a, b: a.scatter(1, torch.from_numpy(PERM[:, :3]), b[:2, :3]),
    ),
    "scatter_add": (
        lambda a, b: a.scatter_add(1, mg.tensor(IDX), b[:2, :3]),
        lambda a, b: a.scatter_add(1, torch.from_numpy(IDX), b[:2, :3]),
    ),
    "sort": both(lambda a: a.sort(1, descending=True)[0], lambda a: a.sort(1, descending=True)[0]),
    "topk": both(lambda a: a.topk(2, 0).values, lambda a: a.topk(2, 0).values),
    "max_dim": both(lambda a: a.max(1).values, lambda a: a.max(1).values),
    "flip_roll": both(lambda a: a.flip(0).roll(2, 1), lambda a: a.flip(0).roll(2, 1)),
    "repeat_tile": both(
        lambda a: a.repeat(2, 1, 3) + a.tile(2, 1, 3), lambda a: a.repeat(2, 1, 3) + a.tile(2, 1, 3)
    ),
    "split_chunk": both(
        lambda a: mg.cat([a.split(3, 1)[1] * 2, a.chunk(2, 1)[0]], 1),
        lambda a: torch.cat([a.split(3, 1)[1] * 2, a.chunk(2, 1)[0]], 1),
    ),
    "clone_softmax": both(
        lambda a: a.clone().softmax(1) + a.log_softmax(0),
        lambda a: a.clone().softmax(1) + a.log_softmax(0),
    ),
    "einsum": (
        lambda a, b: mg.einsum("ij,jk->ik", a, b) + mg.einsum("ij->j", a).sum(),
        lambda a, b: torch.einsum("ij,jk->ik", a, b) + torch.einsum("ij->j", a).sum(),
    ),
    "masked_fill": both(
        lambda a: a.masked_fill(mg.tensor(MASK), -1.0),
        lambda a: a.masked_fill(torch.from_numpy(MASK), -1.0),
    ),
    "var_unbiased": both(
        lambda a: a.var(1, False)[:, None] + a.std(0, True),
        lambda a: a.var(1, False)[:, None] + a.std(0, True),
    ),
    "pad": both(
        lambda a: F.pad(a, (1, 2, 0, 1), "constant", 0.5),
        lambda a: TF.pad(a, (1, 2, 0, 1), "constant", 0.5),
    ),
    "pad_modes": both(
        lambda a: sum(
            F.pad(a[None], (2, 1, 1, 2), m) for m in ("reflect", "replicate", "circular")
        ),
        lambda a: sum(
            TF.pad(a[None], (2, 1, 1, 2), m) for m in ("reflect", "replicate", "circular")
        ),
    ),
    "unfold": both(
        lambda x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
        lambda x: TF.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
    ),
    "fold": both(
        lambda c: F.fold(c, (6, 5), 2, padding=1, stride=(1, 1)),
        lambda c: TF.fold(c, (6, 5), 2, padding=1, stride=(1, 1)),
    ),
    "add_recorded": recorded(
        lambda h, b: h.add_(b[:3, :4], alpha=0.5), lambda h, b: h.add_(b[:3, :4], alpha=0.5)
    ),
    "imul_recorded": recorded(
        lambda h, b: h.__imul__(b[:3, :4]), lambda h, b: h.__imul__(b[:3, :4])
    ),
    "setitem_recorded": recorded(
        lambda h, b: h.__setitem__((slice(1, 3), 0), b[0, :2]),
        lambda h, b: h.__setitem__((slice(1, 3), 0), b[0, :2]),
    ),
    "index_assign_recorded": recorded(
        lambda h, b: h.__setitem__(np.array([2, 0]), b[:2, :4]),
        lambda h, b: h.__setitem__(torch.tensor([2, 0]), b[:2, :4]),
    ),
    "mask_assign_recorded": recorded(
        lambda h, b: h.__setitem__(MASK, b[0, 0]),
        lambda h, b: h.__setitem__(torch.from_numpy(MASK), b[0, 0]),
    ),
    "clamp_recorded": both(
        lambda a: (a * 2).clamp_(-1.0, 1.0) * a, lambda a: (a * 2).clamp_(-1.0, 1.0) * a
    ),
}
INPUTS = {"unfold": [IMAGE], "fold": [rng.standard_normal((2, 12, 42))]}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_pytorch_float64(name, device):
    ours, theirs = CASES[name]
    arrays = INPUTS.get(name, [A, B] if ours.__code__.co_argcount == 2 else [A])
    assert_pairs_close(
        run_with_torch(torch, ours, theirs, arrays, device=device), rtol=1e-9, atol=1e-10
    )
