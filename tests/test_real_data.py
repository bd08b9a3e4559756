"""A short run on real data: Debian's Fashion-MNIST files (package dataset-fashion-mnist, which
.ci/run installs). 400 Adam steps (batch 128) of a small MLP must pass 80% on held-out images."""

import os

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import DataLoader, FashionMNIST, Subset
from minigrad.train import evaluate

DEBIAN = "/usr/share/datasets/fashion-mnist"

pytestmark = pytest.mark.skipif(
    not os.path.isdir(DEBIAN), reason="apt-get install dataset-fashion-mnist to run this test"
)


def test_a_few_hundred_steps_reach_80_percent_on_held_out_images():
    mg.seed(0)
    train = FashionMNIST(DEBIAN, train=True)
    test = Subset(FashionMNIST(DEBIAN, train=False), range(2000))
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    loader = DataLoader(train, batch_size=128, shuffle=True, seed=0)
    steps = 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        steps += 1
        if steps == 400:
            break
    metrics = evaluate(model, DataLoader(test, batch_size=500), F.cross_entropy)
    assert metrics["acc"] > 0.80, metrics
    assert np.isfinite(metrics["loss"]) and metrics["loss"] < 0.6
