"""Post-processing of frame probabilities into events, and evaluation metrics."""
import numpy as np
import torch
import torch.nn.functional as F

from .config import PostprocessConfig


def binarize(probs, threshold=0.5):
    return (probs > threshold).float()


def median_filter(probs, window):
    """Median filter along time of a (B, T, C) tensor, with edge replication."""
    if window <= 1:
        return probs
    pad = window // 2
    x = F.pad(probs.transpose(1, 2), (pad, pad), mode="replicate")
    return x.unfold(-1, window, 1).median(dim=-1).values.transpose(1, 2)


def decode_events(binary, frame_hop, min_event_s=0.0, min_gap_s=0.0):
    """Binary (T, C) array -> list of (onset_s, offset_s, class_index)."""
    events = []
    for c in range(binary.shape[1]):
        padded = np.concatenate([[0], binary[:, c].astype(np.int8), [0]])
        change = np.diff(padded)
        onsets = np.flatnonzero(change == 1)
        offsets = np.flatnonzero(change == -1)
        merged = []
        for on, off in zip(onsets, offsets):
            if merged and (on - merged[-1][1]) * frame_hop < min_gap_s:
                merged[-1][1] = off
            else:
                merged.append([on, off])
        for on, off in merged:
            if (off - on) * frame_hop >= min_event_s:
                events.append((on * frame_hop, off * frame_hop, c))
    return events


@torch.no_grad()
def predictions_to_events(strong_probs, cfg: PostprocessConfig):
    smoothed = median_filter(strong_probs, cfg.median_window)
    binary = binarize(smoothed, cfg.threshold).cpu().numpy()
    return [decode_events(b, cfg.frame_hop_s, cfg.min_event_s, cfg.min_gap_s) for b in binary]


def _match_events(ref, est, collar, pct_length):
    """Greedy one-to-one matching with an onset collar and a length-dependent offset collar."""
    used, tp = set(), 0
    for on_e, off_e, c_e in est:
        for i, (on_r, off_r, c_r) in enumerate(ref):
            if i in used or c_r != c_e:
                continue
            off_collar = max(collar, pct_length * (off_r - on_r))
            if abs(on_e - on_r) <= collar and abs(off_e - off_r) <= off_collar:
                used.add(i)
                tp += 1
                break
    return tp


def event_based_f1(refs, ests, n_classes, collar=0.2, pct_length=0.2):
    """Class-wise event-based F1 over a list of clips; returns (macro F1, per-class F1)."""
    tp = np.zeros(n_classes)
    n_ref = np.zeros(n_classes)
    n_est = np.zeros(n_classes)
    for ref, est in zip(refs, ests):
        for c in range(n_classes):
            ref_c = [e for e in ref if e[2] == c]
            est_c = [e for e in est if e[2] == c]
            n_ref[c] += len(ref_c)
            n_est[c] += len(est_c)
            tp[c] += _match_events(ref_c, est_c, collar, pct_length)
    precision = tp / np.maximum(n_est, 1)
    recall = tp / np.maximum(n_ref, 1)
    f1 = 2.0 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(f1.mean()), f1


def segment_based_f1(strong_probs, strong_labels, threshold=0.5, segment_frames=16):
    """Micro F1 on fixed-length segments: a class is active in a segment if any frame is."""
    pred = binarize(strong_probs, threshold).transpose(1, 2)
    ref = strong_labels.transpose(1, 2).float()
    pred_seg = F.max_pool1d(pred, segment_frames, ceil_mode=True)
    ref_seg = F.max_pool1d(ref, segment_frames, ceil_mode=True)
    tp = (pred_seg * ref_seg).sum()
    fp = (pred_seg * (1 - ref_seg)).sum()
    fn = ((1 - pred_seg) * ref_seg).sum()
    return (2 * tp / (2 * tp + fp + fn).clamp(min=1)).item()


def audio_tagging_map(clip_probs, weak_labels):
    """Macro mean average precision over classes that occur in ``weak_labels``."""
    probs = clip_probs.detach().cpu().numpy()
    labels = weak_labels.cpu().numpy()
    aps = []
    for c in range(probs.shape[1]):
        hits_total = labels[:, c].sum()
        if hits_total == 0:
            continue
        order = np.argsort(-probs[:, c])
        hits = labels[order, c]
        precision_at_k = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append(float((precision_at_k * hits).sum() / hits_total))
    return float(np.mean(aps)) if aps else 0.0


def tune_thresholds(strong_probs, strong_labels, grid=None):
    """Per-class threshold maximising frame-level F1 on a validation set."""
    if grid is None:
        grid = np.linspace(0.05, 0.95, 19)
    probs = strong_probs.detach().flatten(0, 1).cpu().numpy()
    labels = strong_labels.flatten(0, 1).cpu().numpy()
    best = np.full(probs.shape[1], 0.5)
    for c in range(probs.shape[1]):
        scores = []
        for thr in grid:
            pred = probs[:, c] >= thr
            tp = np.sum(pred & (labels[:, c] > 0))
            denom = pred.sum() + (labels[:, c] > 0).sum()
            scores.append(2.0 * tp / denom if denom > 0 else 0.0)
        best[c] = grid[int(np.argmax(scores))]
    return best
