"""Negative samplers for implicit-feedback ranking losses."""

import numpy as np


class UniformSampler:
    """Uniform negatives, re-drawn where they hit one of the user's training positives."""

    def __init__(self, interactions, rng=None, max_retries=10):
        self.R = interactions.tocsr()
        self.n_items = self.R.shape[1]
        self.rng = rng if rng is not None else np.random.default_rng()
        self.max_retries = max_retries

    def is_positive(self, users, items):
        rows = np.broadcast_to(np.asarray(users)[:, None], items.shape)
        return np.asarray(self.R[rows.ravel(), items.ravel()]).reshape(items.shape) > 0

    def sample(self, users, n_neg=1):
        neg = self.rng.integers(0, self.n_items, size=(len(users), n_neg))
        for _ in range(self.max_retries):
            clash = self.is_positive(users, neg)
            if not clash.any():
                break
            neg[clash] = self.rng.integers(0, self.n_items, size=int(clash.sum()))
        return neg


class PopularitySampler(UniformSampler):
    """Draws item j with probability proportional to count_j ** beta (word2vec smoothing).

    ``log_q`` is the log sampling probability, for the logQ correction of sampled softmax.
    """

    def __init__(self, interactions, beta=0.75, rng=None, max_retries=10):
        super().__init__(interactions, rng, max_retries)
        counts = np.asarray(self.R.sum(axis=0), dtype=np.float64).ravel()
        weights = counts ** beta
        self.probs = weights / weights.sum()
        self.log_q = np.log(self.probs + 1e-12)

    def sample(self, users, n_neg=1):
        return self.rng.choice(self.n_items, size=(len(users), n_neg), p=self.probs)


def warp_sample(model, user, pos_score, positives, n_items, rng, max_sampled=50, margin=1.0):
    """Draw negatives until one scores within ``margin`` of the positive (LightFM-style).

    Returns ``(item, n_trials)``, or ``(None, max_sampled)`` when no violator was found.
    """
    for trial in range(1, max_sampled + 1):
        j = int(rng.integers(n_items))
        if j in positives:
            continue
        neg_score = model.score(user, j)
        if neg_score > pos_score - margin:
            return j, trial
    return None, max_sampled


def first_violators(pos_scores, neg_scores, margin=1.0):
    """Vectorised WARP draw: the first column of ``neg_scores`` (B, M), taken in draw
    order, that comes within ``margin`` of the positive score."""
    violating = neg_scores > (pos_scores[:, None] - margin)
    found = violating.any(axis=1)
    first = np.argmax(violating, axis=1)
    n_trials = np.where(found, first + 1, neg_scores.shape[1])
    return first, n_trials, found


def dynamic_negatives(model, users, candidates):
    """DNS (Zhang et al., 2013): keep the highest-scored of C uniform candidates."""
    cand_scores = model.score(users, candidates)
    best = np.argmax(cand_scores, axis=1)
    return candidates[np.arange(len(users)), best]
