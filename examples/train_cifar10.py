"""Train a VGG-style BatchNorm CNN on CIFAR-10 with augmentation, a schedule and clipping.

Expected accuracy: NOT MEASURED. CIFAR-10 could not be downloaded where this example was
written, so no number is claimed here; run it with a GPU (--device cuda) and fill one in.
On a 2-core CPU one epoch over the 50,000 images takes many minutes.
`--fake-data` swaps in a small random CIFAR-shaped set (class-dependent colour blobs plus
noise, made in memory) that smoke-tests the whole pipeline in seconds; its accuracy says
nothing about CIFAR-10. The last line printed is `test accuracy: 0.XXXX`. The log, the
checkpoint and pictures of the run go to --out DIR, by default runs/cifar10-<date>-<time>.

Data is looked for in --data DIR (cifar-10-binary.tar.gz, its cifar-10-batches-bin/ folder or
the .bin files), else the cache ($MINIGRAD_DATA or ~/.cache/minigrad), and is otherwise
downloaded (170 MB, SHA-256 checked).

    python examples/train_cifar10.py --device cuda --epochs 30 --schedule onecycle
    python examples/train_cifar10.py --fake-data --epochs 1 --limit 256
    mpiexec -n 2 python examples/train_cifar10.py --fake-data --epochs 1   # a rank per core

Under mpiexec, --batch-size is the global batch, split over the ranks, as in train_mnist.py
(whose multi-process helpers this script shares).
"""

import argparse
import sys
import time

import numpy as np
from train_mnist import (  # examples/train_mnist.py
    add_run_options,
    data_parallel,
    print_epoch,
    say,
    split_loaders,
)

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import CIFAR10, Subset, TensorDataset
from minigrad.data import transforms as T
from minigrad.plots import RunFolder
from minigrad.train import TrainingLog, fit, save_checkpoint

# per-channel mean and std of the 50,000 training images scaled to [0, 1]
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def conv_bn_relu(c_in, c_out, nn=nn, pool=False):
    """3x3 conv (no bias: BatchNorm's shift replaces it), BatchNorm, ReLU; keeps H and W, or
    halves them with pool=True. The max-pool goes before the ReLU: the two commute (same
    values and gradients), and the ReLU then touches a 4x smaller array."""
    pooling = [nn.MaxPool2d(2)] if pool else []
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    return [conv, nn.BatchNorm2d(c_out), *pooling, nn.ReLU()]


def make_model(dropout=0.2, nn=nn):
    """(B, 3, 32, 32) -> 32-32-pool -> 64-64-pool -> 128-pool -> global avg -> fc10, ~141k
    parameters. The feature maps shrink 32 -> 16 -> 8 -> 4; global pooling leaves (B, 128).
    nn=torch.nn builds the same net in PyTorch (the names match): the benchmarks use that."""

    def block(c_in, c_out, pool=False):
        return conv_bn_relu(c_in, c_out, nn, pool)

    layers = block(3, 32) + block(32, 32, pool=True) + [nn.Dropout(dropout)]
    layers += block(32, 64) + block(64, 64, pool=True) + [nn.Dropout(dropout)]
    layers += block(64, 128, pool=True)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(128, 10)]
    return nn.Sequential(*layers)


def fake_cifar(n, seed):
    """n random (3, 32, 32) images in [0, 1]: each class is a colour blob at its own place,
    under strong noise, so a working pipeline learns it and a broken one stays near 10%."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    colours = np.random.default_rng(1234).uniform(0.2, 0.8, size=(10, 3, 1, 1))
    rows, cols = np.mgrid[0:32, 0:32]
    centres = [(8 + 16 * (k // 5), 4 + 6 * (k % 5)) for k in range(10)]
    blobs = np.stack([np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 40.0) for r, c in centres])
    x = 0.5 + (colours[y] - 0.5) * blobs[y][:, None] + 0.25 * rng.standard_normal((n, 3, 32, 32))
    return TensorDataset(np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64))


def load_data(args):
    """(train, test): fake, local or downloaded CIFAR-10; a clear message when impossible."""
    if args.fake_data:
        n = args.limit or 1024
        return fake_cifar(n, seed=args.seed), fake_cifar(max(n // 4, 64), seed=args.seed + 1)
    try:
        return CIFAR10(args.data, train=True), CIFAR10(args.data, train=False)
    except FileNotFoundError as missing:
        print("CIFAR-10 not found locally; trying to download it (170 MB) ...", file=sys.stderr)
        try:
            train = CIFAR10(args.data, train=True, download=True)
            return train, CIFAR10(args.data, train=False)
        except OSError as offline:
            sys.exit(
                f"{missing}\n\nThe download failed too ({offline}).\n"
                "Copy cifar-10-binary.tar.gz into --data DIR, or smoke-test with --fake-data."
            )


def make_loaders(args, train_set, test_set):
    """Augment the training batches: random 32x32 crop of the image padded by 4, flips."""
    normalize = T.Normalize(CIFAR_MEAN, CIFAR_STD)
    train_tf = normalize
    if not args.no_augment:
        train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(0.5), normalize])
    if args.limit and not args.fake_data:
        train_set = Subset(train_set, range(min(args.limit, len(train_set))))
    return split_loaders(args, train_set, test_set, train_tf, normalize)


def make_optimizer(args, params):
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return optim.AdamW(params, lr=args.lr, weight_decay=5e-2)


def make_scheduler(args, optimizer, steps_per_epoch):
    """The --schedule scheduler or None; fit() steps OneCycle per batch, cosine per epoch."""
    if args.schedule == "onecycle":
        return optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch
        )
    if args.schedule == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    return None


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder holding the CIFAR-10 binary files")
    parser.add_argument("--fake-data", action="store_true", help="random CIFAR-shaped images")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128, help="global: split over ranks")
    parser.add_argument("--lr", type=float, default=None, help="default: 2e-3 AdamW, 0.1 SGD")
    parser.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    parser.add_argument("--schedule", choices=["none", "cosine", "onecycle"], default="onecycle")
    parser.add_argument("--clip", type=float, default=None, help="clip the gradient norm to this")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--no-augment", action="store_true", help="no random crop / flip")
    parser.add_argument("--limit", type=int, default=None, help="use only N training images")
    parser.add_argument("--seed", type=int, default=0)
    add_run_options(parser)
    args = parser.parse_args()
    if args.lr is None:
        args.lr = 0.1 if args.optimizer == "sgd" else 2e-3
    if args.epochs < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--epochs and --limit must be >= 1")
    if args.batch_size % dist.get_world_size():
        parser.error(
            f"--batch-size {args.batch_size} must divide over {dist.get_world_size()} ranks"
        )
    return args


def main():
    dist.init_process_group("mpi")  # under mpiexec: join the other ranks; alone: a world of 1
    args = parse_args()
    mg.seed(args.seed + dist.get_rank())  # own dropout masks; DDP copies rank 0's weights
    train_set, test_set = load_data(args)
    train_loader, test_loader = make_loaders(args, train_set, test_set)
    model = data_parallel(make_model(args.dropout).to(args.device), args.sync_bn)
    optimizer = make_optimizer(args, model.parameters())
    scheduler = make_scheduler(args, optimizer, len(train_loader))
    source = "fake data" if args.fake_data else "CIFAR-10"
    say(
        f"{source}: {len(train_loader.dataset)} train / {len(test_set)} test images, "
        f"device {args.device}, {sum(p.numel() for p in model.parameters())} parameters, "
        f"{args.optimizer} lr {args.lr:g}, schedule {args.schedule}, clip {args.clip}"
    )
    run = RunFolder(args.out, model, optimizer, train_loader, test_loader, scheduler, "cifar10")
    start = time.perf_counter()
    rows = fit(
        model,
        optimizer,
        F.cross_entropy,
        train_loader,
        args.epochs,
        val_loader=test_loader,
        scheduler=scheduler,
        scheduler_per_batch=args.schedule == "onecycle",
        clip_grad_norm=args.clip,
        callbacks=[run.end_epoch, print_epoch],
        log=TrainingLog(args.log),
        progress=sys.stderr.isatty(),
    )
    if args.checkpoint:
        save_checkpoint(args.checkpoint, model, optimizer, epoch=args.epochs)
    seconds = time.perf_counter() - start
    images = len(train_loader.dataset) * len(rows)
    say(f"total time: {seconds:.1f} s ({images / seconds:.0f} train images/s incl. eval)")
    run.finish()
    say(f"test accuracy: {rows[-1]['test_acc']:.4f}")


if __name__ == "__main__":
    main()
