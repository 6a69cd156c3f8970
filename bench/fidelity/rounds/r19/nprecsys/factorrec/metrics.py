"""Top-k ranking metrics over dense score matrices."""

import numpy as np


def rank_positions(scores):
    """0-based position of every column when its row is sorted by descending score."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    positions = np.broadcast_to(np.arange(scores.shape[-1]), scores.shape)
    np.put_along_axis(ranks, order, positions, axis=-1)
    return ranks


def dcg_discount(ranks):
    return 1.0 / np.log2(np.asarray(ranks, dtype=np.float64) + 2.0)


def top_k(scores, k, exclude=None):
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        scores[exclude] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def recall_at_k(scores, truth, k, exclude=None):
    hits = np.take_along_axis(truth, top_k(scores, k, exclude), axis=1).sum(axis=1)
    n_rel = truth.sum(axis=1)
    return np.where(n_rel > 0, hits / np.maximum(np.minimum(n_rel, k), 1), np.nan)


def ndcg_at_k(scores, truth, k, exclude=None):
    top = top_k(scores, k, exclude)
    gains = np.take_along_axis(truth, top, axis=1).astype(np.float64)
    disc = dcg_discount(np.arange(top.shape[1]))
    ideal = -np.sort(-truth.astype(np.float64), axis=1)[:, :top.shape[1]]
    dcg, idcg = gains @ disc, ideal @ disc
    out = np.full_like(dcg, np.nan)
    valid = idcg > 0
    out[valid] = dcg[valid] / idcg[valid]
    return out


def mean_reciprocal_rank(scores, truth, exclude=None):
    if exclude is not None:
        scores = np.where(exclude, -np.inf, scores)
    ranks = rank_positions(scores).astype(np.float64)
    first = np.min(np.where(truth, ranks, np.inf), axis=1)
    return 1.0 / (first + 1.0)


def auc(pos_scores, neg_scores):
    greater = (pos_scores[:, None] > neg_scores[None, :]).mean()
    ties = (pos_scores[:, None] == neg_scores[None, :]).mean()
    return greater + 0.5 * ties


def evaluate(model, test, train=None, ks=(10, 20), batch_size=1024):
    """Mean recall@k and ndcg@k over users with at least one held-out item."""
    test = test.tocsr()
    train = train.tocsr() if train is not None else None
    users = np.flatnonzero(np.diff(test.indptr))
    sums = {}
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        scores = model.score_all(batch)
        truth = test[batch].toarray() > 0
        exclude = train[batch].toarray() > 0 if train is not None else None
        for k in ks:
            for name, fn in (("recall", recall_at_k), ("ndcg", ndcg_at_k)):
                key = f"{name}@{k}"
                sums[key] = sums.get(key, 0.0) + float(np.nansum(fn(scores, truth, k, exclude)))
    return {key: total / max(len(users), 1) for key, total in sums.items()}
