"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a small student CNN learns Fashion-MNIST
from a larger teacher's softened outputs, against the same student trained on the labels alone.

The teacher is train_mnist.py's BatchNorm CNN. The student has a small fraction of its
parameters and is trained twice, from the same init on the same batches for the same steps:
once with cross-entropy on the labels, once with nn.DistillationLoss, which mixes
T² · KL(softmax(teacher / T) || softmax(student / T)) (weight alpha) with the label loss
(weight 1 - alpha). At T > 1 the teacher's outputs tell the student how alike the classes look
(a shirt is closer to a T-shirt than to a boot), which the one-hot labels do not. The teacher's
logits are computed once, in eval mode, for every training image.

Measured on all of Fashion-MNIST (seed 0; teacher 2 epochs, each student 5 epochs, Adam 1e-3,
batch 128), the shared 2-core CPU at load average 2-6, two runs:

    teacher                          421,738 parameters   test accuracy 0.8994
    student alone                      9,098 parameters   test accuracy 0.8791
    student + KD, T = 4, alpha = 0.9   9,098 parameters   test accuracy 0.8743   (run: 765 s)
    student + KD, T = 2, alpha = 0.5   9,098 parameters   test accuracy 0.8834   (run: 1206 s)

(the teacher and the student alone came out the same in both runs). The defaults are the
second setting, chosen after these two runs; one seed, so the +0.4 points are a hint, not a
proof. A guess, not tested here: with the teacher only 2 points above the student, its soft
outputs add little to the labels, and at alpha = 0.9 the student, 46x smaller, spends most of
its epochs copying the teacher instead of fitting the labels.

    python examples/distillation.py              # T=2, alpha=0.5; teacher 2 epochs, students 5
    python examples/distillation.py --limit 1024 --teacher-epochs 1 --epochs 1 --test-limit 500
"""

import argparse
import time

import numpy as np
from train_mnist import STATS, add_limit_options, load_data, make_model  # train_mnist.py

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import DataLoader, TensorDataset
from minigrad.train import evaluate, fit


def make_student(width=8):
    """conv(w)-pool-ReLU, conv(2w)-pool-ReLU, fc10: 9,098 parameters at w = 8 (the teacher has
    421,738). No BatchNorm, no dropout: the student is kept plain."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * 7 * 7, 10),
    )


def count(model):
    return sum(p.numel() for p in model.parameters())


def normalized_arrays(dataset, limit):
    """(x float32 (N, 1, 28, 28) scaled by the training mean and std, y int64): N <= limit."""
    x, y = dataset.arrays()
    mean, std = STATS["fashion"]
    return ((x[:limit] - mean) / std).astype(np.float32), y[:limit]


def teacher_logits(teacher, x, batch_size=1000):
    """The teacher's logits (N, 10) for every image, in eval mode (no dropout, BN statistics)."""
    teacher.eval()
    out = []
    with mg.no_grad():
        for start in range(0, len(x), batch_size):
            out.append(teacher(mg.tensor(x[start : start + batch_size])).numpy())
    return np.concatenate(out)


def train_student(student, loader, loss_fn, args):
    """Adam for --epochs over batches (x, y, teacher logits); loss_fn(student_logits, t, y)."""
    optimizer = optim.Adam(student.parameters(), lr=args.lr)
    student.train()
    for _ in range(args.epochs):
        for x, y, t in loader:
            optimizer.zero_grad()
            loss_fn(student(x), t, y).backward()
            optimizer.step()
    return student


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="folder holding Fashion-MNIST's IDX files")
    p.add_argument("--teacher-epochs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5, help="of each student")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's lr, teacher and students")
    p.add_argument("--width", type=int, default=8, help="the student's first conv width")
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the distillation term")
    add_limit_options(p)
    return p.parse_args()


def main():
    args = parse_args()
    start = time.perf_counter()
    train, test = load_data("fashion", args.data)
    x, y = normalized_arrays(train, args.limit)
    test_loader = DataLoader(
        TensorDataset(*normalized_arrays(test, args.test_limit)), batch_size=1000
    )
    print(f"fashion: {len(x)} train / {len(test_loader.dataset)} test images", flush=True)

    mg.seed(args.seed)
    teacher = make_model()
    loader = DataLoader(
        TensorDataset(x, y), batch_size=args.batch_size, shuffle=True, seed=args.seed
    )
    optimizer = optim.Adam(teacher.parameters(), lr=args.lr)
    fit(teacher, optimizer, F.cross_entropy, loader, args.teacher_epochs, progress=False)
    accuracy = evaluate(teacher, test_loader, F.cross_entropy)["acc"]
    print(f"teacher: {count(teacher):,} parameters, test accuracy {accuracy:.4f}", flush=True)

    with_logits = TensorDataset(x, y, teacher_logits(teacher, x))
    kd = nn.DistillationLoss(args.temperature, args.alpha)
    losses = {
        "student alone": lambda s, t, y: F.cross_entropy(s, y),
        f"student + KD (T={args.temperature:g}, alpha={args.alpha:g})": kd,
    }
    for name, loss_fn in losses.items():
        mg.seed(args.seed)  # the same init for both students
        loader = DataLoader(with_logits, batch_size=args.batch_size, shuffle=True, seed=args.seed)
        student = train_student(make_student(args.width), loader, loss_fn, args)
        accuracy = evaluate(student, test_loader, F.cross_entropy)["acc"]
        print(f"{name}: {count(student):,} parameters, test accuracy {accuracy:.4f}", flush=True)
    print(f"total time: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
