"""Transfer learning: pretrain a CNN on Fashion-MNIST classes 0-4, then learn classes 5-9 from a
few labels, three ways. The net is train_mnist.py's (its last Linear is the head).

Pretraining uses every training image of classes 0-4 (T-shirt, trouser, pullover, dress, coat).
Then a new 5-way head learns classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) from --shots
labelled images of each, three ways, each from the same seed and the same batches:

    frozen backbone   requires_grad_(False) on the pretrained backbone, kept in eval mode (its
                      BatchNorm keeps the pretraining statistics): only the head learns
    full fine-tune    everything learns; two optimizer param groups, the backbone at lr / 10
                      so the pretrained features move slowly while the new head catches up
    from scratch      the same architecture and param groups from a random init: the
                      difference to the full fine-tune is the pretraining alone

Adam throughout; a new head learns at --lr (1e-2), a backbone at lr / 10 (1e-3, which is also
the lr of the pretraining): a linear head from a random init needs the larger steps, since an
Adam step moves each weight by about lr.

Measured with the defaults (seed 0) on the shared 2-core CPU, load average 2-4: pretraining
reached 0.9024 / 0.9208 test accuracy on classes 0-4 after epochs 1-2; then, on the 5,000 test
images of classes 5-9 after 30 epochs on 50 labels per class:

    run                              trained parameters   test accuracy
    frozen backbone, new head                       645          0.8494
    full fine-tune, backbone lr/10              421,093          0.9320
    from scratch, backbone lr/10                421,093          0.9324

240 s in all. Here the pretraining did not pay: tops, trousers, dresses and coats teach
features that a linear head on footwear and bags uses poorly (frozen: 0.85), and with 250
labels of these distinct classes the net trained from scratch matched the fine-tuned one.
(One seed, one split; --shots 5 asks the same question with fewer labels.)

    python examples/transfer_learning.py                    # --shots 50, 2 + 30 epochs
    python examples/transfer_learning.py --limit 1024 --pretrain-epochs 1 --shots 5 \
        --finetune-epochs 2 --test-limit 500                # smoke run, a few seconds
"""

import argparse
import time

import numpy as np
from train_mnist import (  # examples/train_mnist.py
    STATS,
    add_limit_options,
    load_data,
    make_model,
    print_epoch,
)

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import DataLoader, TensorDataset
from minigrad.data import transforms as T
from minigrad.train import evaluate, fit

PRETRAIN_CLASSES = range(0, 5)
NEW_CLASSES = range(5, 10)
FEATURES = 128  # the width of make_backbone's output
NORMALIZE = T.Normalize([STATS["fashion"][0]], [STATS["fashion"][1]])


class Classifier(nn.Module):
    """head(backbone(x)). frozen=True keeps the backbone in eval mode even when the model is
    put in train mode (fit() does that every epoch): BatchNorm then uses and keeps its running
    statistics, dropout is off, and the features are exactly the pretrained ones."""

    def __init__(self, backbone, head, frozen=False):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.frozen = frozen
        if frozen:
            backbone.requires_grad_(False)

    def forward(self, x):
        return self.head(self.backbone(x))

    def train(self, mode=True):
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self


def make_backbone():
    """train_mnist.make_model without its last Linear: (B, 1, 28, 28) -> (B, 128) features."""
    return make_model()[:-1]


def class_subset(dataset, classes, shots=None, seed=0, limit=None):
    """The images of `classes` (a range) with labels renumbered from 0; with `shots`, that many
    random images of each class; with `limit`, the first `limit` of them."""
    x, y = dataset.arrays()
    rng = np.random.default_rng(seed)
    picked = []
    for c in classes:
        ids = np.flatnonzero(y == c)
        picked.append(ids if shots is None else rng.choice(ids, shots, replace=False))
    ids = np.sort(np.concatenate(picked))[:limit]
    return TensorDataset(x[ids], (y[ids] - classes.start).astype(np.int64))


def loader(data, batch_size, seed, shuffle=True):
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed, transform=NORMALIZE)


def pretrain(train_set, test_set, args):
    """A backbone trained with a 5-way head on classes 0-4; prints a line per epoch."""
    mg.seed(args.seed)
    model = Classifier(make_backbone(), nn.Linear(FEATURES, len(PRETRAIN_CLASSES)))
    print(
        f"pretrain: classes 0-4, {len(train_set)} train / {len(test_set)} test images, "
        f"{args.pretrain_epochs} epochs",
        flush=True,
    )
    fit(
        model,
        optim.Adam(model.parameters(), lr=args.lr / 10),
        F.cross_entropy,
        loader(train_set, args.batch_size, args.seed),
        args.pretrain_epochs,
        val_loader=loader(test_set, 500, args.seed, shuffle=False),
        callbacks=[print_epoch],
        progress=False,
    )
    return {k: t.numpy().copy() for k, t in model.backbone.state_dict(keep_vars=True).items()}


def pretrained_backbone(weights):
    backbone = make_backbone()
    backbone.load_state_dict(weights)
    return backbone


def new_head():
    return nn.Linear(FEATURES, len(NEW_CLASSES))


def unchanged(model, weights):
    """Whether the backbone's parameters and BatchNorm statistics still equal `weights`."""
    state = model.backbone.state_dict(keep_vars=True)
    return all(np.array_equal(state[k].numpy(), w) for k, w in weights.items())


def two_groups(model, lr):
    """Optimizer param groups: the backbone at lr / 10, the head at lr."""
    return [
        {"params": list(model.backbone.parameters()), "lr": lr / 10},
        {"params": list(model.head.parameters()), "lr": lr},
    ]


def three_runs(weights, args):
    """(name, model, optimizer param groups) of the three ways; each head from the same seed."""
    mg.seed(args.seed)
    frozen = Classifier(pretrained_backbone(weights), new_head(), frozen=True)
    mg.seed(args.seed)
    tuned = Classifier(pretrained_backbone(weights), new_head())
    mg.seed(args.seed)
    scratch = Classifier(make_backbone(), new_head())
    return [
        ("frozen backbone, new head", frozen, [{"params": list(frozen.head.parameters())}]),
        ("full fine-tune, backbone lr/10", tuned, two_groups(tuned, args.lr)),
        ("from scratch, backbone lr/10", scratch, two_groups(scratch, args.lr)),
    ]


def fine_tune(model, groups, train_set, test_loader, args):
    """Train on the few labels with the same seed and batches; the test accuracy."""
    mg.seed(args.seed)  # the same dropout masks in every run
    train_loader = loader(train_set, args.finetune_batch_size, args.seed)
    optimizer = optim.Adam(groups, lr=args.lr)
    fit(model, optimizer, F.cross_entropy, train_loader, args.finetune_epochs, progress=False)
    return evaluate(model, test_loader, F.cross_entropy)["acc"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="folder holding Fashion-MNIST's IDX files")
    p.add_argument("--shots", type=int, default=50, help="labelled images per new class")
    p.add_argument("--pretrain-epochs", type=int, default=2)
    p.add_argument("--finetune-epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128, help="of pretraining")
    p.add_argument("--finetune-batch-size", type=int, default=25)
    p.add_argument("--lr", type=float, default=1e-2, help="Adam's lr of a new head")
    add_limit_options(p)
    return p.parse_args()


def main():
    args = parse_args()
    start = time.perf_counter()
    train, test = load_data("fashion", args.data)
    old_test = class_subset(test, PRETRAIN_CLASSES, limit=args.test_limit)
    weights = pretrain(class_subset(train, PRETRAIN_CLASSES, limit=args.limit), old_test, args)
    few = class_subset(train, NEW_CLASSES, shots=args.shots, seed=args.seed)
    new_test = class_subset(test, NEW_CLASSES, limit=args.test_limit)
    test_loader = loader(new_test, 500, args.seed, shuffle=False)
    print(
        f"fine-tune: classes 5-9, {args.shots} labels per class ({len(few)} images), "
        f"{len(new_test)} test images, {args.finetune_epochs} epochs each"
    )
    print(f"{'run':<32} {'trained parameters':>18} {'test accuracy':>14}")
    runs = three_runs(weights, args)
    for name, model, groups in runs:
        accuracy = fine_tune(model, groups, few, test_loader, args)
        trained = sum(p.numel() for group in groups for p in group["params"])
        print(f"{name:<32} {trained:>18,} {accuracy:>14.4f}", flush=True)
    print(f"frozen backbone unchanged by its fine-tuning: {unchanged(runs[0][1], weights)}")
    print(f"total time: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
