"""Checks that run inside `mpiexec -n 2 python tests/mpi_checks.py CHECK [ARGS]`, started by
tests/test_distributed.py. Each one asserts on every rank; a failed assertion aborts the job,
so mpiexec exits non-zero. Rank 0 prints "ok CHECK" at the end."""

import os
import sys

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.fast.threads import blas_threads
from minigrad.nn.parallel import DistributedDataParallel as DDP


def gathered(array):
    """Every rank's copy of `array`, stacked: (world, *shape)."""
    array = np.ascontiguousarray(array)
    slots = [np.empty_like(array) for _ in range(dist.get_world_size())]
    dist.all_gather(slots, array)
    return np.stack(slots)


def assert_same_on_all_ranks(model):
    for name, value in model.state_dict().items():
        copies = gathered(np.asarray(value))
        for r in range(1, len(copies)):
            np.testing.assert_array_equal(copies[r], copies[0], err_msg=f"{name} on rank {r}")


def small_cnn(seed, batch_norm=None):
    """Conv (channels-last weights: non-contiguous grads) -> (BN) -> ReLU -> pool -> linear."""
    mg.seed(seed)
    layers = [nn.Conv2d(2, 4, 3, padding=1)]
    if batch_norm is not None:
        layers.append(batch_norm(4))
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5)]
    return nn.Sequential(*layers)


def global_batches(steps, batch, seed=123):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = rng.standard_normal((batch, 2, 6, 6)).astype(np.float32)
        y = rng.integers(0, 5, size=batch)
        yield x, y


def my_share(array):
    """This rank's contiguous block of a global batch (equal blocks)."""
    n = len(array) // dist.get_world_size()
    return array[dist.get_rank() * n : (dist.get_rank() + 1) * n]


def make_optimizer(kind, params):
    if kind == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def train(model, optimizer, batches, share):
    for x, y in batches:
        x, y = (share(x), share(y)) if share else (x, y)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(mg.tensor(x)), mg.tensor(y))
        loss.backward()
        optimizer.step()


# --------------------------------------------------------------------------- checks


def check_collectives():
    rank, world = dist.get_rank(), dist.get_world_size()
    if blas_threads_expected is not None:  # cores / ranks, unless the user chose
        assert blas_threads() == blas_threads_expected, blas_threads()
    t = mg.tensor([1.0, 2.0]) * (rank + 1)
    dist.all_reduce(t)
    np.testing.assert_allclose(t.numpy(), [3.0, 6.0])
    for op, expected in (("avg", 1.5), (dist.ReduceOp.MAX, 2.0), ("min", 1.0)):
        a = np.full(3, rank + 1.0, dtype=np.float32)
        dist.all_reduce(a, op=op)
        np.testing.assert_allclose(a, expected)
    # a non-contiguous array (a transposed view) is packed and written back in place
    base = np.arange(6, dtype=np.float64).reshape(2, 3) * (rank + 1)
    view = base.T
    dist.all_reduce(view, op="sum")
    np.testing.assert_allclose(base, np.arange(6).reshape(2, 3) * 3.0)
    work = dist.all_reduce(np.full(4, float(rank)), op="sum", async_op=True)
    assert work.wait()
    b = mg.tensor([float(rank), 7.0])
    dist.broadcast(b, src=1)
    np.testing.assert_array_equal(b.numpy(), [1.0, 7.0])
    slots = [mg.zeros(2) for _ in range(world)]
    dist.all_gather(slots, mg.tensor([rank, rank * 10.0]))
    np.testing.assert_array_equal(np.stack([s.numpy() for s in slots]), [[0, 0], [1, 10]])
    objects = [None] * world
    dist.all_gather_object(objects, {"rank": rank, "text": "x" * (rank + 3)})
    assert objects == [{"rank": 0, "text": "xxx"}, {"rank": 1, "text": "xxxx"}]
    dist.barrier()


def check_identical_parameters():
    """Different initial weights per rank; DDP broadcasts rank 0's; different data per rank,
    yet 10 steps later every rank still holds the same parameters."""
    model = DDP(small_cnn(seed=dist.get_rank()), bucket_cap_mb=0.0005)
    assert len(model._buckets) > 1
    assert_same_on_all_ranks(model)
    reference = small_cnn(seed=0)
    for key, value in reference.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    batches = global_batches(10, 8, seed=dist.get_rank())  # each rank its own data
    train(model, optimizer, batches, share=None)
    assert_same_on_all_ranks(model)


def check_equals_single_process(kind, bucket_cap_mb="25"):
    """2 ranks x 8 samples == 1 process x 16 samples, step after step."""
    steps, batch = 6, 16
    ddp = DDP(small_cnn(seed=0), bucket_cap_mb=float(bucket_cap_mb))
    train(ddp, make_optimizer(kind, ddp.parameters()), global_batches(steps, batch), my_share)
    single = small_cnn(seed=0)
    train(single, make_optimizer(kind, single.parameters()), global_batches(steps, batch), None)
    for key, value in single.state_dict().items():
        np.testing.assert_allclose(ddp.state_dict()[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    changed = small_cnn(seed=0).state_dict()["0.weight"]
    assert np.abs(single.state_dict()["0.weight"] - changed).max() > 1e-3  # it did train


def check_no_sync():
    """Two half-batches accumulated under no_sync, then one synced backward, equals one
    process accumulating all four quarter-batches."""
    ddp = DDP(small_cnn(seed=0))
    single = small_cnn(seed=0)
    x, y = next(global_batches(1, 16))
    quarters = [(x[i : i + 4], y[i : i + 4]) for i in range(0, 16, 4)]
    mine = quarters[2 * dist.get_rank() : 2 * dist.get_rank() + 2]
    with ddp.no_sync():
        F.cross_entropy(ddp(mg.tensor(mine[0][0])), mg.tensor(mine[0][1])).backward()
    first = gathered(ddp.module[0].weight.grad)
    assert np.abs(first[0] - first[1]).max() > 1e-6  # not averaged yet
    F.cross_entropy(ddp(mg.tensor(mine[1][0])), mg.tensor(mine[1][1])).backward()
    for xq, yq in quarters:
        (F.cross_entropy(single(mg.tensor(xq)), mg.tensor(yq)) / 2).backward()
    for (name, p), q in zip(ddp.module.named_parameters(), single.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-5, atol=1e-6, err_msg=name)


def check_unused_parameter():
    """A parameter the forward never reaches on one rank gets the other rank's gradient / 2."""

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = nn.Linear(3, 2)

        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0)

    mg.seed(0)
    model = DDP(Branchy())
    x = mg.tensor(np.ones((4, 3), dtype=np.float32))
    model(x, use_b=dist.get_rank() == 0).sum().backward()
    grads = gathered(model.module.b.weight.grad)
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_allclose(grads[0], np.full((2, 3), 4.0 / 2))


def check_partial_backward():
    """A forward without backward is forgotten; a loss that ignores one of the outputs leaves
    its parameters' gradients unreduced, and the next forward says so; a second backward
    through one forward is refused."""

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x), self.b(x)

    model = DDP(TwoHeads())
    x = mg.ones(4, 3)
    model(x)  # no backward: forgotten
    a, b = model(x)
    (a.sum() + b.sum()).backward()
    assert_same_on_all_ranks(model)
    a, _ = model(x)
    a.sum().backward()
    try:
        model(x)
    except RuntimeError as error:
        assert "did not reach every parameter" in str(error)
    else:
        raise AssertionError("a partial backward went unnoticed")
    # a second backward through one forward would add unaveraged gradients: refused
    model = DDP(nn.Linear(3, 2))
    loss = model(x).sum()
    loss.backward(retain_graph=True)
    try:
        loss.backward()
    except RuntimeError as error:
        assert "second backward through the same forward" in str(error)
    else:
        raise AssertionError("a second backward went unnoticed")
    with model.no_sync():  # a forward under no_sync accumulates, whenever its backward runs
        out = model(x).sum()
    out.backward()
    out = model(x).sum()
    out.backward()
    assert_same_on_all_ranks(model)


def check_sync_batchnorm():
    """SyncBatchNorm on 2 ranks x 8 == BatchNorm2d on 16 in one process: outputs, input
    gradients, parameters after 3 steps and running statistics."""
    ddp = DDP(small_cnn(seed=0, batch_norm=nn.SyncBatchNorm))
    single = small_cnn(seed=0, batch_norm=nn.BatchNorm2d)
    x, _ = next(global_batches(1, 16))
    xt = mg.tensor(my_share(x), requires_grad=True)
    xs = mg.tensor(x, requires_grad=True)
    ys, yt = single[:2](xs), ddp.module[:2](xt)
    np.testing.assert_allclose(yt.numpy(), my_share(ys.numpy()), atol=1e-5)
    weights = np.random.default_rng(5).standard_normal(ys.shape).astype(np.float32)
    (yt * mg.tensor(my_share(weights))).sum().backward()
    (ys * mg.tensor(weights)).sum().backward()
    np.testing.assert_allclose(xt.grad, my_share(xs.grad), rtol=1e-4, atol=1e-5)
    for model in (ddp, single):
        model.zero_grad()
    train(ddp, make_optimizer("sgd", ddp.parameters()), global_batches(3, 16), my_share)
    train(single, make_optimizer("sgd", single.parameters()), global_batches(3, 16), None)
    for key, value in single.state_dict().items():
        np.testing.assert_allclose(ddp.state_dict()[key], value, rtol=1e-4, atol=1e-5, err_msg=key)


def check_sync_batchnorm_fast_equals_formula():
    """The layer (fused Normalize with _sum_over_ranks) == SyncBatchNormFunction, the formula,
    on each rank's own uneven batch (3 and 5 images: the global count must be summed):
    outputs, dx, dw, db and the running statistics."""
    from minigrad.nn.sync_batchnorm import SyncBatchNormFunction

    rng = np.random.default_rng(7 + dist.get_rank())
    x = (3 * rng.standard_normal((3 + 2 * dist.get_rank(), 4, 5, 5)) + 1).astype(np.float32)
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    layer = nn.SyncBatchNorm(4, momentum=None)  # cumulative average: momentum 1/n
    layer.weight.data[:] = [0.5, 1.0, 1.5, 2.0]
    layer.bias.data[:] = [0.1, -0.2, 0.3, 0.0]
    running = (np.zeros(4, np.float32), np.ones(4, np.float32), 1.0)
    results = []
    for use_layer in (True, False):
        xt = mg.tensor(x, requires_grad=True)
        if use_layer:
            y = layer(xt)
        else:
            y = SyncBatchNormFunction.apply(xt, layer.weight, layer.bias, eps=1e-5, running=running)
        (y * mg.tensor(upstream)).sum().backward()
        results.append([y.numpy(), xt.grad, layer.weight.grad, layer.bias.grad])
        layer.zero_grad()
    for name, fast, formula in zip(["y", "dx", "dw", "db"], *results):
        np.testing.assert_allclose(fast, formula, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(layer.running_mean.numpy(), running[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.running_var.numpy(), running[1], rtol=1e-5)
    # one value per channel on each rank is a batch of two over the ranks (PyTorch: allowed)
    single = nn.SyncBatchNorm(2)(mg.full((1, 2), float(dist.get_rank())))
    np.testing.assert_allclose(
        single.numpy(), np.full((1, 2), 2.0 * dist.get_rank() - 1), atol=1e-3
    )


def fit_setup(seed):
    """A dropout MLP under DDP, its optimizer, and this rank's shuffled share of 96 samples
    (the loader's own generator and the dropout masks differ per rank: both must resume)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    data = mg.data.TensorDataset(mg.tensor(x), mg.tensor(y))
    shard = mg.data.Subset(data, range(dist.get_rank(), len(data), dist.get_world_size()))
    mg.seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    model = DDP(model)
    mg.seed(seed + dist.get_rank())
    loader = mg.data.DataLoader(shard, batch_size=8, shuffle=True, seed=seed + dist.get_rank())
    val = mg.data.DataLoader(shard, batch_size=8)
    return model, optim.Adam(model.parameters(), lr=0.01), loader, val, (x, y)


def check_fit_metrics_and_resume(folder):
    """fit/evaluate metrics cover every rank's share; rank 0 alone writes the log and the
    checkpoint; 2 epochs + save + resume + 2 epochs == 4 epochs, bit for bit, on every rank."""
    model, opt, loader, val, (x, y) = fit_setup(seed=10)
    log = mg.train.TrainingLog(f"{folder}/log")
    rows = mg.train.fit(model, opt, F.cross_entropy, loader, 4, val, log=log, progress=False)
    assert_same_on_all_ranks(model)
    with mg.no_grad():
        model.eval()
        whole = F.cross_entropy(model(mg.tensor(x)), mg.tensor(y)).item()
        accuracy = float((model(mg.tensor(x)).numpy().argmax(1) == y).mean())
    metrics = mg.train.evaluate(model, val, F.cross_entropy)
    assert abs(metrics["loss"] - whole) < 1e-5 and abs(metrics["acc"] - accuracy) < 1e-9
    assert abs(rows[-1]["test_loss"] - whole) < 1e-5
    assert len(log.rows) == 4 and (log.csv_path is None) == (dist.get_rank() != 0)
    uninterrupted = {k: np.array(v) for k, v in model.state_dict().items()}

    model, opt, loader, val, _ = fit_setup(seed=10)
    mg.train.fit(model, opt, F.cross_entropy, loader, 2, val_loader=val, progress=False)
    mg.train.save_checkpoint(f"{folder}/ckpt.npz", model, opt, epoch=2, loader=loader)
    model, opt, loader, val, _ = fit_setup(seed=99)  # other RNG states and batch order
    start = mg.train.load_checkpoint(f"{folder}/ckpt.npz", model, opt, loader=loader)["epoch"]
    mg.train.fit(model, opt, F.cross_entropy, loader, 4, val, start_epoch=start, progress=False)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, uninterrupted[key], err_msg=key)


def check_distributed_sampler():
    """With the group's defaults each rank takes its own shard of the same epoch's shuffle:
    disjoint but for the padding, covering the data, reshuffled by set_epoch."""
    sampler = mg.data.DistributedSampler(range(11), seed=3)
    assert (sampler.num_replicas, sampler.rank) == (2, dist.get_rank())
    epochs = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        shards = gathered(np.array(list(sampler), dtype=np.int64))
        assert shards.shape == (2, 6) and set(shards.ravel()) == set(range(11))
        epochs.append(shards)
    assert not np.array_equal(epochs[0], epochs[1])


def check_raise():
    """Rank 1 raises while rank 0 waits in a collective: the whole job must end."""
    if dist.get_rank() == 1:
        raise ValueError("planted failure on rank 1")
    dist.barrier()


CHECKS = {name[len("check_") :]: f for name, f in globals().items() if name.startswith("check_")}

if __name__ == "__main__":
    chosen = any(k in os.environ for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    cores = len(os.sched_getaffinity(0))
    blas_threads_expected = None if chosen else max(1, cores // 2)
    dist.init_process_group("mpi")
    assert dist.get_world_size() == 2, "run under mpiexec -n 2"
    name, *args = sys.argv[1:]
    CHECKS[name](*args)
    dist.barrier()
    if dist.get_rank() == 0:
        print(f"ok {name} {' '.join(args)}".strip(), flush=True)
