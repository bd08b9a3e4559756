"""A small ResNet (He et al. 2016, "Deep Residual Learning for Image Recognition") written with
minigrad.nn and trained on Fashion-MNIST (or CIFAR-10); it reuses train_mnist.py's data loading.

Each BasicBlock computes relu(F(x) + shortcut(x)), with F = conv3x3-BN-ReLU-conv3x3-BN: the
block only has to learn the change F to its input, and the identity path passes the gradient
to earlier layers untouched but for the last ReLU's mask. When a block halves H and W (stride
2) or changes the channels, the shortcut is a 1x1 conv with stride (plus BN) so the two tensors
can be added. The net: stem conv3x3 -> 3 stages (width w, 2w, 4w; each after the first halves
H and W) -> global average pooling -> linear. --blocks N per stage gives 6N+2 weight layers.

Measured with the defaults (`--epochs 3`: ResNet-8, width 16, 77,754 parameters, AdamW with a
one-cycle schedule peaking at lr 1e-2, batch 128, seed 0) on all of Fashion-MNIST, the shared
2-core CPU: test accuracy 0.8325 / 0.8937 / 0.9100 after epochs 1-3. The run took 3346 s wall
(1672 s CPU) with other jobs on the machine (load average 4-7). At load ~1 an epoch of 4,096
training + 1,000 test images took 7.3-8.9 s, which extrapolates to 5-6 minutes for this run.

The last line printed is `test accuracy: 0.XXXX`.

    python examples/train_resnet.py --epochs 3
    python examples/train_resnet.py --dataset cifar10 --fake-data --epochs 1 --limit 256  # smoke
"""

import argparse
import sys
import time

import train_cifar10  # examples/train_cifar10.py
import train_mnist  # examples/train_mnist.py

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.train import fit


class BasicBlock(nn.Module):
    """y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); (B, C_in, H, W) ->
    (B, C_out, H / stride, W / stride). Convs carry no bias: the BN after each has a shift."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        # the last BN's scale starts at 0, so each block starts as the identity (its residual
        # branch adds nothing): Goyal et al. 2017, "Accurate, Large Minibatch SGD"
        nn.init.zeros_(self.bn2.weight)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def make_model(in_channels=1, width=16, blocks=1, num_classes=10):
    """stem -> stage(w) -> stage(2w, /2) -> stage(4w, /2) -> global average -> linear.
    On 28x28 inputs the feature maps are 28 -> 14 -> 7; on 32x32, 32 -> 16 -> 8."""
    layers = [
        nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
    ]
    c_in = width
    for stage, c_out in enumerate([width, 2 * width, 4 * width]):
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append(BasicBlock(c_in, c_out, stride))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)


def load_loaders(args):
    """(train, test) loaders through the helpers of train_mnist.py / train_cifar10.py."""
    if args.dataset == "cifar10":
        train_set, test_set = train_cifar10.load_data(args)
        make_loaders = train_cifar10.make_loaders
    else:
        train_set, test_set = train_mnist.load_data(args.dataset, args.data)
        make_loaders = train_mnist.make_loaders
    train_set, test_set = train_mnist.apply_limits(args, train_set, test_set)
    return make_loaders(args, train_set, test_set)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["fashion", "mnist", "cifar10"], default="fashion")
    parser.add_argument("--data", default=None, help="folder holding the dataset's files")
    parser.add_argument("--fake-data", action="store_true", help="random CIFAR-shaped images")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=16, help="channels of the first stage")
    parser.add_argument("--blocks", type=int, default=1, help="BasicBlocks per stage")
    parser.add_argument("--lr", type=float, default=1e-2, help="AdamW's peak lr (one-cycle)")
    parser.add_argument("--augment", action="store_true", help="random crops and flips")
    train_mnist.add_limit_options(parser)
    args = parser.parse_args()
    if args.fake_data and args.dataset != "cifar10":
        parser.error("--fake-data goes with --dataset cifar10")
    args.no_augment = not args.augment  # the name train_cifar10.make_loaders reads
    args.crop_pad, args.erase = 2, 0.0  # train_mnist.make_loaders' crop pad, no erasing
    return args


def main():
    args = parse_args()
    mg.seed(args.seed)
    train_loader, test_loader = load_loaders(args)
    in_channels = 3 if args.dataset == "cifar10" else 1
    model = make_model(in_channels, args.width, args.blocks).to(args.device)
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-2)
    scheduler = optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(train_loader)
    )
    source = "fake data" if args.fake_data else args.dataset
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"{source}: {len(train_loader.dataset)} train / {len(test_loader.dataset)} test images, "
        f"ResNet-{6 * args.blocks + 2} width {args.width}, {n_params} parameters",
        flush=True,
    )
    start = time.perf_counter()
    rows = fit(
        model,
        optimizer,
        F.cross_entropy,
        train_loader,
        args.epochs,
        val_loader=test_loader,
        scheduler=scheduler,
        scheduler_per_batch=True,
        callbacks=[train_mnist.print_epoch],
        progress=sys.stderr.isatty(),
    )
    print(f"total time: {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {rows[-1]['test_acc']:.4f}")


if __name__ == "__main__":
    main()
