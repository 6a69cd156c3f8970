"""Supervised losses for strongly (frame) and weakly (clip) labelled audio.

Networks in this package output probabilities, so the losses take probabilities.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .pooling import max_pooling

EPS = 1e-7


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def frame_bce(strong_probs, strong_labels, frame_mask=None):
    """Frame-wise BCE. ``frame_mask`` (B, T) marks frames that carry an annotation."""
    loss = F.binary_cross_entropy(strong_probs, strong_labels, reduction="none")
    if frame_mask is None:
        return loss.mean()
    loss = loss * frame_mask.unsqueeze(-1)
    n_valid = (frame_mask.sum() * strong_probs.shape[-1]).clamp(min=1)
    return loss.sum() / n_valid


def clip_bce(clip_probs, weak_labels, label_smoothing=0.0):
    if label_smoothing > 0:
        weak_labels = weak_labels * (1.0 - label_smoothing) + 0.5 * label_smoothing
    clip_probs = clip_probs.clamp(EPS, 1.0 - EPS)
    return F.binary_cross_entropy(clip_probs, weak_labels)


def bce_from_probs(probs, targets):
    """Element-wise binary cross-entropy written out on probabilities."""
    return -(targets * torch.log(probs) + (1.0 - targets) * torch.log(1.0 - probs))


def class_pos_weight(labels, max_weight=10.0):
    """Inverse-frequency weight of the positive class, from a label tensor."""
    dims = tuple(range(labels.dim() - 1))
    n_pos = labels.sum(dim=dims)
    n_neg = labels[..., 0].numel() - n_pos
    return (n_neg / n_pos.clamp(min=1.0)).clamp(max=max_weight)


class FocalLoss(nn.Module):
    """Binary focal loss on probabilities, for sparse frame-level targets."""

    def __init__(self, gamma=2.0, alpha=None, reduction="mean"):
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction

    def forward(self, probs, targets):
        ce = F.binary_cross_entropy(probs, targets, reduction="none")
        p_t = torch.where(targets > 0.5, probs, 1.0 - probs)
        loss = ce * (1.0 - p_t) ** self.gamma
        if self.alpha is not None:
            alpha_t = self.alpha * targets + (1.0 - self.alpha) * (1.0 - targets)
            loss = alpha_t * loss
        return _reduce(loss, self.reduction)


class AsymmetricLoss(nn.Module):
    """Asymmetric loss for multi-label tagging (Ridnik et al., 2021)."""

    def __init__(self, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, eps=1e-8,
                 disable_grad_focal=True):
        super().__init__()
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps
        self.disable_grad_focal = disable_grad_focal

    def forward(self, probs, targets):
        xs_pos = probs
        xs_neg = 1.0 - probs
        if self.clip is not None and self.clip > 0:
            xs_neg = (xs_neg + self.clip).clamp(max=1.0)
        los_pos = targets * torch.log(xs_pos.clamp(min=self.eps))
        los_neg = (1.0 - targets) * torch.log(xs_neg.clamp(min=self.eps))
        loss = los_pos + los_neg
        if self.gamma_neg > 0 or self.gamma_pos > 0:
            if self.disable_grad_focal:
                torch.set_grad_enabled(False)
            pt = xs_pos * targets + xs_neg * (1.0 - targets)
            gamma = self.gamma_pos * targets + self.gamma_neg * (1.0 - targets)
            one_sided_w = torch.pow(1.0 - pt, gamma)
            if self.disable_grad_focal:
                torch.set_grad_enabled(True)
            loss = loss * one_sided_w
        return -loss.sum() / targets.shape[0]


def mil_loss(frame_probs, weak_labels):
    """Multiple-instance loss: a positive clip needs one active frame, a negative none."""
    pos_scores = max_pooling(frame_probs, dim=1)
    pos_loss = bce_from_probs(pos_scores, torch.ones_like(pos_scores))
    neg_loss = bce_from_probs(frame_probs, torch.zeros_like(frame_probs)).mean(dim=1)
    loss = torch.where(weak_labels > 0.5, pos_loss, neg_loss)
    return loss.mean()


def false_alarm_weighted_bce(strong_probs, strong_labels, threshold=0.5, fa_weight=2.0):
    """Frame BCE with extra weight on frames that are currently false alarms."""
    loss = F.binary_cross_entropy(strong_probs, strong_labels, reduction="none")
    false_alarm = (strong_probs > threshold) & (strong_labels < 0.5)
    weights = 1.0 + (fa_weight - 1.0) * false_alarm.float()
    return (loss * weights).mean()


def temporal_smoothness(frame_probs, order=1, normalize=False):
    """Total-variation penalty on frame probabilities along time."""
    diff = torch.diff(frame_probs, n=order, dim=1)
    tv = diff.abs().mean()
    if normalize:
        activity = frame_probs.mean()
        tv = tv / activity if activity > 0 else tv
    return tv


def soft_f1_loss(probs, targets, eps=1e-7):
    """1 - macro soft-F1 over classes; ``probs`` and ``targets`` are (N, C)."""
    tp = (probs * targets).sum(dim=0)
    fp = (probs * (1.0 - targets)).sum(dim=0)
    fn = ((1.0 - probs) * targets).sum(dim=0)
    f1 = 2.0 * tp / (2.0 * tp + fp + fn + eps)
    return 1.0 - f1.mean()


def pairwise_ranking_loss(clip_scores, weak_labels, margin=1.0):
    """Hinge loss asking every present class to outscore every absent class by ``margin``."""
    pos = weak_labels > 0.5
    diff = margin - clip_scores.unsqueeze(2) + clip_scores.unsqueeze(1)
    pair_mask = (pos.unsqueeze(2) & ~pos.unsqueeze(1)).float()
    hinge = F.relu(diff) * pair_mask
    return hinge.sum() / pair_mask.sum()


def hard_negative_frame_bce(strong_probs, strong_labels, neg_ratio=3.0):
    """Frame BCE keeping all positive frames and the hardest ``neg_ratio`` x as many negatives."""
    loss = F.binary_cross_entropy(strong_probs, strong_labels, reduction="none").flatten()
    pos = strong_labels.flatten() > 0.5
    n_pos = int(pos.sum().item())
    n_neg = int(min(neg_ratio * max(n_pos, 1), (~pos).sum().item()))
    neg_loss = loss.masked_fill(pos, 0.0)
    hard_neg = neg_loss.topk(n_neg).values
    return (loss[pos].sum() + hard_neg.sum()) / max(n_pos + n_neg, 1)


def weak_strong_loss(strong_probs, weak_probs, strong_labels, weak_labels, strong_mask,
                     weak_mask, strong_criterion=frame_bce, weak_criterion=clip_bce):
    """Supervised loss of a mixed batch: strong part on frames, weak part on clips."""
    loss_strong = strong_criterion(strong_probs[strong_mask], strong_labels[strong_mask])
    loss_weak = weak_criterion(weak_probs[weak_mask], weak_labels)
    return loss_strong, loss_weak
