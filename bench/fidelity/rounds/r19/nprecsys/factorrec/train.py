"""Optimisers, parameter projections and minibatch training steps."""

import numpy as np

from .functional import cosine_backward, cosine_forward, warp_rank_weight
from .losses import CosineContrastiveLoss, make_loss
from .sampling import PopularitySampler, UniformSampler, dynamic_negatives, warp_sample


class SGD:
    def __init__(self, lr, decay=1.0):
        self.lr, self.decay = lr, decay

    def update(self, name, param, rows, grad):
        np.add.at(param, rows, -self.lr * grad)

    def end_epoch(self):
        self.lr *= self.decay


class Adagrad(SGD):
    """Per-coordinate steps lr / sqrt(sum of squared gradients), as in LightFM."""

    def __init__(self, params, lr, eps=1e-6):
        super().__init__(lr)
        self.eps = eps
        self.accum = {name: np.zeros_like(p) for name, p in params.items()}

    def update(self, name, param, rows, grad):
        acc = self.accum[name]
        np.add.at(acc, rows, grad * grad)
        np.add.at(param, rows, -self.lr * grad / (np.sqrt(acc[rows]) + self.eps))


def clip_rows(grad, max_norm):
    norms = np.linalg.norm(grad, axis=-1, keepdims=True)
    return grad * np.minimum(1.0, max_norm / (norms + 1e-12))


def project_nonnegative(param, rows):
    param[rows] = np.maximum(param[rows], 0.0)


def project_max_norm(param, rows, max_norm):
    norms = np.sqrt(np.sum(param[rows] ** 2, axis=-1, keepdims=True))
    param[rows] *= np.minimum(1.0, max_norm / np.maximum(norms, 1e-12))


def make_optimizer(model):
    cfg = model.config
    if cfg.optimizer == "adagrad":
        return Adagrad(model.params(), cfg.learning_rate, cfg.adagrad_eps)
    return SGD(cfg.learning_rate, cfg.lr_decay)


def apply_gradients(model, optimizer, users, items, grad_u, grad_v, grad_b):
    cfg = model.config
    reg_u, reg_v, reg_b = model.penalty_grad(users, items)
    grad_u, grad_v, grad_b = grad_u + reg_u, grad_v + reg_v, grad_b + reg_b
    if cfg.clip_grad is not None:
        grad_u = clip_rows(grad_u, cfg.clip_grad)
        grad_v = clip_rows(grad_v, cfg.clip_grad)
    optimizer.update("user_factors", model.user_factors, users, grad_u)
    optimizer.update("item_factors", model.item_factors, items, grad_v)
    if cfg.use_bias:
        optimizer.update("item_bias", model.item_bias, items, grad_b)
    if cfg.nonneg:
        project_nonnegative(model.user_factors, users)
        project_nonnegative(model.item_factors, items)
    if cfg.max_norm is not None:
        project_max_norm(model.user_factors, users, cfg.max_norm)
        project_max_norm(model.item_factors, items, cfg.max_norm)


def ranking_step(model, loss_fn, optimizer, users, pos_items, neg_items):
    """One minibatch of a pairwise loss; ``neg_items`` is (B, N). Returns the loss."""
    pos_scores = model.score(users, pos_items)
    neg_scores = model.score(users, neg_items)
    loss = loss_fn.forward(pos_scores, neg_scores)
    dpos, dneg = loss_fn.backward()
    gu_pos, gv_pos, gb_pos = model.backward(users, pos_items, dpos)
    gu_neg, gv_neg, gb_neg = model.backward(users, neg_items, dneg)
    items = np.concatenate([pos_items, neg_items.ravel()])
    loss = loss + model.penalty(users, items)
    if not np.isfinite(loss):
        raise FloatingPointError(f"loss diverged: {loss}")
    apply_gradients(model, optimizer, users, items, gu_pos + gu_neg,
                    np.concatenate([gv_pos, gv_neg.reshape(-1, gv_pos.shape[-1])]),
                    np.concatenate([gb_pos, gb_neg.ravel()]))
    return loss


def ccl_step(model, loss_fn, optimizer, users, pos_items, neg_items):
    u = model.user_vectors(users)
    pos_cos, pos_cache = cosine_forward(u, model.item_vectors(pos_items))
    neg_cos, neg_cache = cosine_forward(u[:, None, :], model.item_vectors(neg_items))
    loss = loss_fn.forward(pos_cos, neg_cos)
    dpos, dneg = loss_fn.backward()
    du_pos, dv_pos = cosine_backward(dpos, pos_cache)
    du_neg, dv_neg = cosine_backward(dneg, neg_cache)
    items = np.concatenate([pos_items, neg_items.ravel()])
    apply_gradients(model, optimizer, users, items, du_pos + du_neg.sum(axis=1),
                    np.concatenate([dv_pos, dv_neg.reshape(-1, dv_pos.shape[-1])]),
                    np.zeros(len(items)))
    return loss + model.penalty(users, items)


def listwise_step(model, loss_fn, optimizer, users, items, labels):
    """One minibatch of a listwise loss over candidate lists ``items`` (B, L)."""
    loss = loss_fn.forward(model.score(users, items), labels)
    grad_u, grad_v, grad_b = model.backward(users, items, loss_fn.backward())
    apply_gradients(model, optimizer, users, items.ravel(), grad_u,
                    grad_v.reshape(-1, grad_v.shape[-1]), grad_b.ravel())
    return loss + model.penalty(users, items.ravel())


def warp_epoch(model, interactions, optimizer, rng, max_sampled=50, margin=1.0):
    """Per-example WARP with sequential rejection sampling, as in LightFM."""
    R = interactions.tocsr()
    users, items = R.nonzero()
    total = 0.0
    for idx in rng.permutation(len(users)):
        u, i = users[idx], items[idx]
        positives = set(R.indices[R.indptr[u]:R.indptr[u + 1]].tolist())
        pos_score = model.score(u, i)
        j, trials = warp_sample(model, u, pos_score, positives, R.shape[1], rng,
                                max_sampled, margin)
        if j is None:
            continue
        weight = warp_rank_weight(R.shape[1], trials)
        total += weight * (margin - pos_score + model.score(u, j))
        gu_i, gv_i, gb_i = model.backward(u, i, -weight)
        gu_j, gv_j, gb_j = model.backward(u, j, weight)
        apply_gradients(model, optimizer, np.array([u]), np.array([i, j]),
                        (gu_i + gu_j)[None, :], np.stack([gv_i, gv_j]), np.array([gb_i, gb_j]))
    return total


def fit(model, interactions, n_epochs=20, batch_size=512, n_neg=20, n_candidates=32,
        eval_fn=None, patience=3, log=print):
    """Minibatch training with uniform, popularity or DNS negatives and early stopping
    on ``eval_fn(model)`` (higher is better)."""
    cfg = model.config
    rng = np.random.default_rng(cfg.seed)
    R = interactions.tocsr()
    sampler = (PopularitySampler(R, rng=rng) if cfg.negatives == "popularity"
               else UniformSampler(R, rng=rng))
    loss_fn = make_loss(cfg, model.n_items)
    step = ccl_step if isinstance(loss_fn, CosineContrastiveLoss) else ranking_step
    optimizer = make_optimizer(model)
    users, items = R.nonzero()
    best, best_state, stale, prev = -np.inf, None, 0, np.inf
    for epoch in range(n_epochs):
        order = rng.permutation(len(users))
        total, n_batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            b = order[start:start + batch_size]
            if cfg.negatives == "dns":
                cand = sampler.sample(users[b], n_candidates)
                neg = dynamic_negatives(model, users[b], cand)[:, None]
            else:
                neg = sampler.sample(users[b], n_neg)
            total += step(model, loss_fn, optimizer, users[b], items[b], neg).item()
            n_batches += 1
        epoch_loss = total / max(n_batches, 1)
        optimizer.lr = optimizer.lr * 0.5 if epoch_loss > prev else optimizer.lr
        prev = epoch_loss
        optimizer.end_epoch()
        log(f"epoch {epoch:3d}  loss {epoch_loss:.5f}  lr {optimizer.lr:.4g}")
        if eval_fn is None:
            continue
        metric = eval_fn(model)
        if metric > best:
            best, stale = metric, 0
            best_state = {name: p.copy() for name, p in model.params().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        model.load(best_state)
    return model
