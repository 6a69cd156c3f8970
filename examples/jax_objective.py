"""A jax objective for a tiny two-layer regressor, differentiated with ``jax.value_and_grad``.

The static analyzer reads this file without jax installed; running it needs jax.

    python examples/jax_objective.py --steps 100
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp


def init_params(key, d_in: int = 3, hidden: int = 16):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (d_in, hidden)) * 0.5,
        "b1": jnp.zeros(hidden),
        "w2": jax.random.normal(k2, (hidden,)) * 0.5,
    }


def predict(params, x):
    hidden = jax.nn.relu(x @ params["w1"] + params["b1"])  # kink: relu'(0) = 0 in jax; hidden units at exactly 0 stay dead, accepted
    return hidden @ params["w2"]


def objective(params, x, y, delta: float = 1.0):
    """Reverse-Huber-like loss (L1 inside delta, a steeper square outside) with a hard clip on
    the residual plus a norm penalty on w2."""
    r = predict(params, x) - y
    r = jnp.clip(r, -3.0, 3.0)  # planted: KC103
    small = jnp.abs(r) < delta  # planted: KC402 (this comparison selects in the where below)
    huber = jnp.where(small, jnp.abs(r), r**2 / delta)  # planted: KC101 (the slope jumps from 1 to 2 at |r| = delta)
    penalty = jnp.linalg.norm(params["w2"])  # planted: KC203
    worst = jnp.max(huber)  # planted: KC105 (the worst residual's tie decides which one gets the gradient)
    floor = jnp.min(huber)  # a logged statistic: stop_gradient keeps its tie out of the gradient
    return huber.mean() + 1e-3 * penalty + 1e-2 * worst + 0.0 * jax.lax.stop_gradient(floor)


def make_data(key, n: int = 128):
    x = jax.random.normal(key, (n, 3))
    y = jnp.sin(x[:, 0]) + 0.5 * x[:, 1] - x[:, 2] ** 2
    return x, y


def main(steps: int = 100, lr: float = 0.05, seed: int = 0):
    """Plain gradient descent; returns the loss history."""
    key = jax.random.PRNGKey(seed)
    params = init_params(key)
    x, y = make_data(jax.random.PRNGKey(seed + 1))
    step = jax.jit(jax.value_and_grad(objective))
    history = []
    for _ in range(steps):
        loss, grads = step(params, x, y)
        params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
        history.append(float(loss))
    return history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    history = main(args.steps)
    print(f"loss {history[0]:.4f} -> {history[-1]:.4f}")
