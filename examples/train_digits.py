"""Train a small MLP on scikit-learn's 8x8 digits with a hand-rolled loss.

The loss mixes cross-entropy with a few "practical" terms of the kind that accumulate in
research code: a margin hinge, an L1 penalty, a feature-distance term, a confidence
penalty, a running scale. Each of them is a point where the loss is not differentiable.
Some are documented with ``# kink: <why it is fine>``; the others are what
``kinkcheck check examples/`` reports.

    python examples/train_digits.py --steps 50
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class DigitsMLP(nn.Module):
    """64 -> hidden -> 10. Its ReLU is model code, not loss code: not reported by default."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        features = F.relu(self.fc1(x))
        return self.fc2(features), features


def margin_hinge(logits, target, margin: float = 1.0):
    """Multi-class hinge: every wrong class should trail the right one by ``margin``."""
    correct = logits.gather(1, target[:, None])
    violation = F.relu(margin - (correct - logits))  # planted: KC102
    return violation.sum(dim=1).mean() - margin


def feature_spread(features, target):
    """Pull features of a class towards their centroid (a center-loss flavour)."""
    total = features.new_zeros(())
    for label in range(10):
        members = features[target == label]
        count = members.shape[0]
        if count == 0:
            continue
        center = members.mean(dim=0).detach()  # the centroid is a target: no gradient by design
        dist = torch.norm(members - center, dim=1)  # planted: KC203
        total = total + dist.sum()
    return total / features.shape[0]


def confidence_penalty(logits):
    """Penalise over-confident predictions; uses the top-1 probability."""
    probs = torch.softmax(logits, dim=1)
    top = probs.max(dim=1).values  # planted: KC105
    return torch.sqrt(top).mean()  # planted: KC201


def loss_fn(model, x, target, *, l1: float = 1e-4, scale: float = 1.0):
    """The training objective: cross-entropy plus the penalties above."""
    logits, features = model(x)
    ce = F.cross_entropy(logits, target)
    p_true = torch.softmax(logits, dim=1).gather(1, target[:, None])
    nll = -torch.log(p_true).mean()  # planted: KC204
    sparsity = sum(p.abs().sum() for p in model.parameters())  # kink: L1 on weights, the subgradient 0 keeps zero weights at 0
    hits = (logits.argmax(dim=1) == target).float().mean()  # planted: KC303
    loss = ce + 0.1 * nll + l1 * sparsity + 0.1 * margin_hinge(logits, target)
    loss = loss + 1e-3 * feature_spread(features, target) + 0.01 * confidence_penalty(logits)
    loss = loss + 0.01 * torch.sign(logits).mean()  # planted: KC301
    if loss > 10.0:  # planted: KC401
        loss = loss / loss.detach()  # under loss > 10 the denominator is >= 10: no pole (the detach rescales on purpose)
    counts = np.bincount(target.numpy(), minlength=10)  # labels: no gradient to lose
    balance = torch.as_tensor(np.tanh(counts)).mean()  # a function of the labels only
    tracked = scale * loss.item()  # planted: KC501
    return loss * (1.0 + 0.1 * (1.0 - hits)) * balance + 0.0 * tracked


def load_data(dtype=torch.float32):
    """The 1,797 digits as (x, y) tensors; features scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images / 16.0, dtype=dtype)
    y = torch.tensor(labels, dtype=torch.long)
    return x, y


def main(steps: int = 100, dtype: torch.dtype = torch.float32, batch: int = 128, seed: int = 0, lr: float = 0.05):
    """Train for ``steps`` minibatch steps; returns the list of losses."""
    torch.manual_seed(seed)
    x, y = load_data(dtype)
    model = DigitsMLP().to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for step in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,))
        opt.zero_grad()
        loss = loss_fn(model, x[idx], y[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    history = main(args.steps, getattr(torch, args.dtype))
    print(f"step {len(history)}: loss {history[-1]:.4f}")
