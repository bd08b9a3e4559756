"""Tests for distributed.py, nn/parallel.py and nn/sync_batchnorm.py.

Multi-process checks run tests/mpi_checks.py under `mpiexec -n 2` (skipped, with the reason,
without the `distributed` extra); the rest runs in this process as a world of one."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.distributed as dist
import minigrad.testing as mt
from minigrad import nn
from minigrad.gradcheck import gradcheck
from minigrad.nn.parallel import DistributedDataParallel, _make_buckets
from minigrad.nn.sync_batchnorm import SyncBatchNormFunction

ROOT = Path(__file__).resolve().parent.parent
MPIEXEC = shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(
    not dist.is_available() or MPIEXEC is None,
    reason='needs mpi4py and mpiexec: pip install -e ".[distributed]"',
)


def mpirun(*args, timeout=120):
    """Run tests/mpi_checks.py ARGS on 2 ranks; (return code, output, seconds)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [MPIEXEC, "-n", "2", sys.executable, str(ROOT / "tests" / "mpi_checks.py"), *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start


# --------------------------------------------------------------------------- 2 ranks


@needs_mpi
@pytest.mark.parametrize(
    "check",
    [
        "collectives",
        "identical_parameters",
        "equals_single_process sgd",
        "equals_single_process adam",
        "equals_single_process adam 0.0005",  # several small buckets
        "no_sync",
        "unused_parameter",
        "partial_backward",
        "distributed_sampler",
        "sync_batchnorm",
        "sync_batchnorm_fast_equals_formula",
    ],
)
def test_two_ranks(check):
    code, output, _ = mpirun(*check.split())
    assert code == 0 and f"ok {check}" in output, output


@needs_mpi
def test_fit_evaluate_and_checkpoints_under_two_ranks(tmp_path):
    code, output, _ = mpirun("fit_metrics_and_resume", str(tmp_path))
    assert code == 0 and "ok fit_metrics_and_resume" in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz", "log.csv", "log.jsonl"]
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 4  # one writer


@needs_mpi
def test_a_raising_rank_ends_the_job_quickly():
    code, output, seconds = mpirun("raise", timeout=60)
    assert code != 0, output
    assert "planted failure on rank 1" in output, output
    assert seconds < 30, f"the job took {seconds:.0f} s to end:\n{output}"


# --------------------------------------------------------------------------- a world of one


def test_a_world_of_one_without_a_process_group():
    assert not dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
    t = mg.tensor([1.0, -2.0])
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    dist.broadcast(t, src=0)
    slots = [mg.zeros(2)]
    dist.all_gather(slots, t)
    objects = [None]
    dist.all_gather_object(objects, {"a": [1, 2]})
    dist.barrier()
    np.testing.assert_array_equal(t.numpy(), [1.0, -2.0])
    np.testing.assert_array_equal(slots[0].numpy(), [1.0, -2.0])
    assert objects == [{"a": [1, 2]}]


def test_init_process_group_alone_is_a_world_of_one():
    code = (
        "import minigrad.distributed as d; d.init_process_group('mpi'); "
        "print(d.is_initialized(), d.get_rank(), d.get_world_size()); "
        "d.destroy_process_group(); print(d.is_initialized())"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.split() == ["True", "0", "1", "False"], done.stderr


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: dist.all_reduce(mg.tensor([1.0]), op="mean"), "op must be one of"),
        (lambda: dist.all_reduce(mg.tensor([1, 2]), op="avg"), "needs a float tensor"),
        (lambda: dist.all_reduce([1.0, 2.0]), "expected a Tensor or a backend array"),
        (lambda: dist.broadcast(mg.tensor([1.0]), src=1), "src must be a rank in"),
        (lambda: dist.all_gather([], mg.tensor([1.0])), "must hold 1 tensors"),
        (lambda: dist.init_process_group("gloo"), "backend must be 'mpi' or 'nccl'"),
        (lambda: DistributedDataParallel(lambda x: x), "expected a Module"),
        (lambda: DistributedDataParallel(nn.Linear(2, 2), bucket_cap_mb=0), "bucket_cap_mb"),
        (lambda: nn.SyncBatchNorm(3)(mg.zeros(3)), "at least 2D input"),
        (lambda: nn.SyncBatchNorm.convert_sync_batchnorm("bn"), "expected a Module"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_ddp_in_a_world_of_one_is_the_module():
    mg.seed(0)
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    ddp = DistributedDataParallel(module)
    assert ddp.module is module
    assert list(ddp.state_dict()) == list(module.state_dict())
    assert [id(p) for p in ddp.parameters()] == [id(p) for p in module.parameters()]
    x = mg.randn(5, 3)
    ddp(x).sum().backward()
    grads = [p.grad.copy() for p in module.parameters()]
    module.zero_grad()
    with ddp.no_sync():
        module(x).sum().backward()
    for g, p in zip(grads, module.parameters()):
        np.testing.assert_array_equal(g, p.grad)


def test_ddp_refuses_create_graph_but_allows_a_gradient_penalty():
    mg.seed(0)
    module = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    ddp = DistributedDataParallel(module)
    x = mg.randn(5, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="create_graph"):
        ddp(x).sum().backward(create_graph=True)
    module.zero_grad()
    out = ddp(x).sum()
    (dx,) = mg.autograd.grad(out, x, create_graph=True)
    (out + (dx * dx).sum()).backward()  # the penalty's graph, then a plain backward
    assert all(type(p.grad) is np.ndarray for p in module.parameters())


def test_buckets_respect_the_cap_order_and_dtype():
    layers = [nn.Linear(10, 10), nn.Linear(10, 10), nn.Linear(10, 10, dtype="float64")]
    params = [p for layer in layers for p in layer.parameters()]
    buckets = _make_buckets(params, cap_bytes=450)  # 400-byte float32 weights: one each
    flat = [p for bucket in buckets for p in bucket.params]
    assert [id(p) for p in flat] == [id(p) for p in reversed(params)]
    for bucket in buckets:
        assert len({p.dtype for p in bucket.params}) == 1
        nbytes = sum(p.numel() * p.data.dtype.itemsize for p in bucket.params)
        assert nbytes <= 450 or len(bucket.params) == 1
    # reversed: bias64 80 B, weight64 800 B (over the cap alone), then float32 bias+weight pairs
    sizes = [[p.numel() * p.data.dtype.itemsize for p in bucket.params] for bucket in buckets]
    assert sizes == [[80], [800], [40, 400], [40, 400]]


def test_bucket_pack_and_unpack_keep_values_and_layout():
    conv = nn.Conv2d(2, 3, 3)
    for p in conv.parameters():
        p.grad = p.data * 0 + mg.randn(*p.shape).numpy()
    bucket = _make_buckets(list(conv.parameters()), 2**20)[0]
    originals = [p.grad.copy() for p in bucket.params]
    strides = [p.grad.strides for p in bucket.params]
    flat = bucket.pack()
    np.testing.assert_array_equal(flat, np.concatenate([g.reshape(-1) for g in originals]))
    flat *= 2
    bucket.unpack()
    for p, g, s in zip(bucket.params, originals, strides):
        np.testing.assert_array_equal(p.grad, 2 * g)
        assert p.grad.strides == s


@settings(max_examples=20)
@given(data=st.data(), affine=st.booleans())
def test_sync_batchnorm_function_in_a_world_of_one(data, affine, device):
    """With one rank the function is batch norm: forward against NumPy, backward by gradcheck
    (a random upstream gradient exercises every term of dx)."""
    shape = data.draw(mt.norm_configs(max_batch=3, max_channels=3, max_spatial=3))
    x = data.draw(mt.well_conditioned(shape))
    w = data.draw(mt.arrays((shape[1],), 0.5, 2.0)) if affine else None
    b = data.draw(mt.arrays((shape[1],), -1.0, 1.0)) if affine else None
    leaves = [mg.tensor(a, device=device, requires_grad=True) for a in (w, b) if a is not None]
    weight, bias = leaves if affine else (None, None)

    def fn(t):
        return SyncBatchNormFunction.apply(t, weight, bias, eps=1e-5)

    axes = (0,) + tuple(range(2, x.ndim))
    expected = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-5)
    if affine:
        channel = (1, -1) + (1,) * (x.ndim - 2)
        expected = expected * w.reshape(channel) + b.reshape(channel)
    y = fn(mg.tensor(x, device=device))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-9, atol=1e-9)
    gradcheck(fn, [x], params=leaves, device=device)


def test_sum_over_ranks_in_a_world_of_one_and_its_limits():
    """The reduce hook SyncBatchNorm gives Normalize: in a world of one it returns its inputs
    (a Python count included) in the first array's dtype; Normalize refuses it for layer norm,
    whose statistics are not per channel, before any collective."""
    from minigrad.fast.normalization import Normalize
    from minigrad.nn.sync_batchnorm import _sum_over_ranks

    sums, count = _sum_over_ranks(np.arange(3, dtype=np.float32).reshape(1, 3, 1), 7)
    np.testing.assert_array_equal(sums, [[[0], [1], [2]]])
    assert sums.dtype == np.float32 and count.dtype == np.float32 and float(count) == 7.0
    x = mg.randn(2, 3, 4)
    config = dict(view=(2, 3, 4), axes=(2,), param_shape=(4,), eps=1e-5)
    with pytest.raises(ValueError, match="reduce needs per-channel statistics"):
        Normalize.apply(x, mg.ones(4), None, reduce=_sum_over_ranks, **config)


def test_convert_sync_batchnorm_keeps_parameters_and_statistics():
    mg.seed(0)
    inner = nn.Sequential(nn.Linear(27, 4), nn.BatchNorm1d(4))
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), inner)
    model(mg.randn(4, 1, 5, 5))  # running statistics move away from 0 and 1
    weight, mean = model[1].weight, model[1].running_mean.numpy().copy()
    state = {k: np.array(v) for k, v in model.state_dict().items()}
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert type(model[1]) is nn.SyncBatchNorm and type(model[3][1]) is nn.SyncBatchNorm
    assert model[1].weight is weight
    np.testing.assert_array_equal(model[1].running_mean.numpy(), mean)
    assert list(model.state_dict()) == list(state)
    single = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(2).eval())
    assert type(single) is nn.SyncBatchNorm and not single.training


def test_sync_batchnorm_alone_equals_batchnorm():
    mg.seed(0)
    x = mg.randn(6, 3, 4, 4)
    sync, plain = nn.SyncBatchNorm(3), nn.BatchNorm2d(3)
    for mode in ("train", "eval"):
        getattr(sync, mode)()
        getattr(plain, mode)()
        np.testing.assert_allclose(sync(x).numpy(), plain(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(sync.running_var.numpy(), plain.running_var.numpy())


def test_post_accumulate_grad_hook_runs_once_per_backward_after_accumulation():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    (w * w + w).sum().backward()  # w is used three times but accumulated once
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [3.0, 5.0])
    handle.remove()
    (w * 2).sum().backward()
    assert len(seen) == 1
    with pytest.raises(RuntimeError, match="leaf tensors"):
        (w * 2).register_post_accumulate_grad_hook(print)
