"""Temporal pooling: from frame-level probabilities to clip-level predictions.

Shapes follow the convention ``(batch, frames, classes)`` for frame-level tensors
and ``(batch, classes)`` for clip-level ones.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def max_pooling(frame_probs, dim=1):
    return frame_probs.max(dim=dim)[0]


def mean_pooling(frame_probs, dim=1):
    return frame_probs.mean(dim=dim)


def linear_softmax_pooling(frame_probs, dim=1):
    """Linear softmax pooling (Wang et al., 2019): frames weight themselves."""
    return (frame_probs ** 2).sum(dim=dim) / frame_probs.sum(dim=dim)


def exp_softmax_pooling(frame_probs, dim=1):
    weights = torch.exp(frame_probs)
    return (frame_probs * weights).sum(dim=dim) / weights.sum(dim=dim)


def topk_mean_pooling(frame_probs, ratio=0.1, dim=1):
    """Mean of the ``ratio`` most active frames of each class."""
    k = max(1, int(round(frame_probs.shape[dim] * ratio)))
    top = torch.topk(frame_probs, k, dim=dim).values
    return top.mean(dim=dim)


def peak_pooling(frame_probs, radius=1):
    """Average of the frames around each class's most active frame."""
    n_frames = frame_probs.shape[1]
    peak = frame_probs.argmax(dim=1, keepdim=True)
    offsets = torch.arange(-radius, radius + 1, device=frame_probs.device)[None, :, None]
    idx = (peak + offsets).clamp(0, n_frames - 1)
    return frame_probs.gather(1, idx).mean(dim=1)


def class_softmax_attention(frame_probs, att_logits, eps=1e-7):
    """DCASE-baseline attention: softmax over classes, normalised over time."""
    att = torch.softmax(att_logits, dim=-1)
    att = torch.clamp(att, min=eps, max=1.0)
    return (frame_probs * att).sum(dim=1) / att.sum(dim=1)


class AutoPool(nn.Module):
    """Adaptive pooling operator (McFee et al., 2018) with one alpha per class."""

    def __init__(self, n_classes, init_alpha=0.0):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((n_classes,), float(init_alpha)))

    def forward(self, frame_probs):
        scaled = self.alpha * frame_probs
        scaled = scaled - scaled.max(dim=1, keepdim=True)[0].detach()
        weights = torch.exp(scaled)
        weights = weights / weights.sum(dim=1, keepdim=True)
        return (frame_probs * weights).sum(dim=1)


class PowerPooling(nn.Module):
    """Power pooling (Liu et al., 2020): frame weights p^n with a learned, class-wise n."""

    def __init__(self, n_classes, init_n=1.0):
        super().__init__()
        self.n = nn.Parameter(torch.full((n_classes,), float(init_n)))

    def forward(self, frame_probs):
        n = self.n.clamp(min=0.0)
        weights = frame_probs.pow(n)
        return (frame_probs * weights).sum(dim=1) / weights.sum(dim=1)


class GeMPooling(nn.Module):
    """Generalised-mean pooling over time with a learned exponent."""

    def __init__(self, p=3.0, eps=1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, frame_probs):
        x = frame_probs.clamp(min=self.eps)
        return x.pow(self.p).mean(dim=1).pow(1.0 / self.p)


class AttentionPooling(nn.Module):
    """Decision-level attention (Kong et al.): separate attention and classifier heads."""

    def __init__(self, in_features, n_classes, temperature=1.0, learn_temperature=False,
                 clamp_logits=10.0):
        super().__init__()
        self.att = nn.Linear(in_features, n_classes)
        self.cla = nn.Linear(in_features, n_classes)
        if learn_temperature:
            self.temperature = nn.Parameter(torch.tensor(float(temperature)))
        else:
            self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.clamp_logits = clamp_logits

    def forward(self, x):
        att_logits = self.att(x)
        if self.clamp_logits is not None:
            att_logits = torch.clamp(att_logits, -self.clamp_logits, self.clamp_logits)
        tau = self.temperature.item()
        norm_att = torch.softmax(att_logits / tau, dim=1)
        frame_probs = torch.sigmoid(self.cla(x))
        clip_probs = (norm_att * frame_probs).sum(dim=1)
        return clip_probs, frame_probs, norm_att


class SEDHead(nn.Module):
    """Frame classifier plus a configurable temporal pooling.

    Returns ``(strong_probs, weak_probs)`` with shapes (B, T, C) and (B, C).
    """

    def __init__(self, in_features, n_classes, pooling="linear_softmax", topk_ratio=0.1):
        super().__init__()
        self.pooling = pooling
        self.topk_ratio = topk_ratio
        self.classifier = nn.Linear(in_features, n_classes)
        if pooling == "attention":
            self.att_head = nn.Linear(in_features, n_classes)
        elif pooling == "autopool":
            self.pool_module = AutoPool(n_classes)
        elif pooling == "power":
            self.pool_module = PowerPooling(n_classes)
        elif pooling == "gem":
            self.pool_module = GeMPooling()

    def forward(self, x):
        strong = torch.sigmoid(self.classifier(x))
        if self.pooling == "max":
            weak = max_pooling(strong)
        elif self.pooling == "mean":
            weak = mean_pooling(strong)
        elif self.pooling == "linear_softmax":
            weak = linear_softmax_pooling(strong)
        elif self.pooling == "exp_softmax":
            weak = exp_softmax_pooling(strong)
        elif self.pooling == "topk":
            weak = topk_mean_pooling(strong, self.topk_ratio)
        elif self.pooling == "peak":
            weak = peak_pooling(strong)
        elif self.pooling == "attention":
            weak = class_softmax_attention(strong, self.att_head(x))
        else:
            weak = self.pool_module(strong)
        return strong, weak


def upsample_frames(frame_out, ratio):
    """Repeat frames to undo the CNN's temporal pooling: (B, T, C) -> (B, T * ratio, C)."""
    return frame_out.repeat_interleave(ratio, dim=1)


def pad_frames(frame_out, n_frames):
    """Pad (by repeating the last frame) or crop to exactly ``n_frames``."""
    missing = n_frames - frame_out.shape[1]
    if missing <= 0:
        return frame_out[:, :n_frames]
    return F.pad(frame_out.transpose(1, 2), (0, missing), mode="replicate").transpose(1, 2)
