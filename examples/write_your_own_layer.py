"""Write your own layer: a new activation as a Function, checked, property-tested and trained.

The walk-through, top to bottom:
  1. SquarePlus (So 2021), y = (x + sqrt(x^2 + b)) / 2, a smooth ReLU with forward and
     backward side by side;
  2. minigrad.gradcheck passes on it, and catches a planted bug with a table of the worst
     entries;
  3. a hypothesis property test (strategies from minigrad.testing) run right here, which also
     finds the bug and shrinks it to a tiny failing input;
  4. the Function wrapped as an nn.Module, the whole model gradchecked with its parameters,
     then trained on two interleaved half-moons.
Expected: every check prints OK, the bug is caught twice, and the model reaches about 100%
training accuracy; about 5 s on a 2-core CPU.   Run: python examples/write_your_own_layer.py
"""

import argparse
import math
import time

import numpy as np
from hypothesis import given, settings

import minigrad as mg
import minigrad.functional as F
import minigrad.testing as mt
from minigrad import nn, optim
from minigrad.gradcheck import GradcheckError

# --------------------------------------------------------------------------- 1. the Function


class SquarePlus(mg.Function):
    """y = (x + s) / 2 with s = sqrt(x^2 + b);  dx = dout * (1 + x / s) / 2"""

    def forward(self, x, *, b):
        s = self.xp.sqrt(x * x + b)
        if self.needs_input_grad[0]:  # under no_grad nobody calls backward: save nothing
            self.x, self.s = x, s
        return (x + s) / 2

    def backward(self, dout):
        # one gradient per positional forward argument; b is a keyword, so only dx
        return (dout * (1 + self.x / self.s) / 2,)


def squareplus(x, b=4.0):
    """SquarePlus activation; b > 0 sets how round the corner at 0 is (b -> 0 gives ReLU)."""
    if not isinstance(x, mg.Tensor):
        raise TypeError(f"squareplus: expected a Tensor, got {type(x).__name__}")
    if not b > 0:
        raise ValueError(f"squareplus: b must be > 0, got {b!r}")
    return SquarePlus.apply(x, b=float(b))


def squareplus_reference(x, b=4.0):
    """The same formula in plain NumPy, float64: what the forward is tested against."""
    return (x + np.sqrt(x * x + b)) / 2


# --------------------------------------------------------------------------- 2. gradcheck


class BuggySquarePlus(SquarePlus):
    """The same forward with a planted bug: backward forgets the factor 1/2."""

    def backward(self, dout):
        return (dout * (1 + self.x / self.s),)


def check_with_gradcheck(device):
    x = np.random.default_rng(0).normal(size=(3, 4))
    mg.gradcheck(squareplus, [x], device=device)
    print("gradcheck(squareplus): OK")
    try:
        mg.gradcheck(lambda t: BuggySquarePlus.apply(t, b=4.0), [x], device=device)
        print("gradcheck(buggy): NOT caught")
    except GradcheckError as error:
        print("gradcheck(buggy) caught the planted bug; its report:")
        print(str(error))


# --------------------------------------------------------------------------- 3. hypothesis


def squareplus_properties(fn, device):
    """A property test: for any array x, forward matches NumPy, y > max(x, 0), and the
    gradient passes gradcheck. SquarePlus has no kink, so no values need avoiding."""

    def prop(x, b):
        y = fn(mg.tensor(x, device=device), b).numpy()
        np.testing.assert_allclose(y, squareplus_reference(x, b), rtol=1e-12, atol=1e-12)
        assert np.all(y > np.maximum(x, 0))
        mg.gradcheck(lambda t: fn(t, b), [x], device=device)

    return prop


def run_property_test(fn, device, examples):
    """Run the property test for `examples` drawn cases; hypothesis shrinks any failure."""
    strategy = dict(x=mt.arrays(mt.shapes(max_dims=3), low=-5, high=5), b=mt.floats(0.1, 8.0))
    test = settings(max_examples=examples, deadline=None, database=None, print_blob=False)(
        given(**strategy)(squareplus_properties(fn, device))
    )
    test()


def buggy_squareplus(x, b):
    return BuggySquarePlus.apply(x, b=float(b))


def shrunk_example(error):
    """`x=..., b=...` from the 'Falsifying example' note hypothesis attaches to the error."""
    notes = "\n".join(getattr(error, "__notes__", []))
    lines = [line.split("#")[0].strip() for line in notes.splitlines()]
    return " ".join(line for line in lines if "=" in line and "prop(" not in line).rstrip(",")


def check_with_hypothesis(device, examples):
    run_property_test(squareplus, device, examples)
    print(f"hypothesis property test ({examples} examples): OK")
    try:
        run_property_test(buggy_squareplus, device, examples)
        print("hypothesis on the buggy version: NOT caught")
    except GradcheckError as error:
        print("hypothesis on the buggy version: caught; the shrunk input is")
        print("  " + shrunk_example(error))


# --------------------------------------------------------------------------- 4. a Module


class SquarePlusLayer(nn.Module):
    """nn.Module wrapper: a layer holding its hyperparameter b, usable in Sequential."""

    def __init__(self, b=4.0):
        super().__init__()
        self.b = b

    def forward(self, x):
        return squareplus(x, self.b)

    def extra_repr(self):
        return f"b={self.b}"


def two_moons(n, seed=0):
    """(x (n, 2) float32, y (n,) int64): two interleaved half circles with a little noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    angle = rng.uniform(0, math.pi, size=n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    x = np.where(y[:, None] == 1, lower, upper)
    x += 0.1 * rng.standard_normal((n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def train_model(device, steps):
    mg.seed(0)
    model = nn.Sequential(
        nn.Linear(2, 32), SquarePlusLayer(), nn.Linear(32, 32), SquarePlusLayer(), nn.Linear(32, 2)
    ).to(device)
    x_host, y_host = two_moons(256)
    x, y = mg.tensor(x_host, device=device), mg.tensor(y_host, device=device)
    # the whole stack, its Linear weights included, in random directions (cheap for many params)
    y8 = mg.tensor(y_host[:8], device=device)
    params = list(model.parameters())
    mg.gradcheck(
        lambda t: F.cross_entropy(model(t), y8),
        [x_host[:8]],
        params=params,
        mode="fast",
        device=device,
    )
    print("gradcheck(model with SquarePlusLayer, params): OK")
    optimizer = optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    with mg.no_grad():
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    print(f"two moons, {steps} Adam steps: loss {loss.item():.4f}, train accuracy {accuracy:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or strict")
    parser.add_argument("--examples", type=int, default=20, help="hypothesis examples")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    args = parser.parse_args()
    start = time.perf_counter()
    check_with_gradcheck(args.device)
    check_with_hypothesis(args.device, args.examples)
    train_model(args.device, args.steps)
    print(f"done in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
