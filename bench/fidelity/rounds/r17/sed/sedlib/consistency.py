"""Mean-teacher training: EMA teacher, ramp-ups and student/teacher consistency losses."""
import numpy as np
import torch
import torch.nn.functional as F

from .postprocess import binarize, median_filter

EPS = 1e-7


def sigmoid_rampup(current, rampup_length):
    """Exponential ramp-up from Laine & Aila (2017), in [0, 1]."""
    if rampup_length == 0:
        return 1.0
    current = np.clip(current, 0.0, rampup_length)
    phase = 1.0 - current / rampup_length
    return float(np.exp(-5.0 * phase * phase))


def linear_rampup(current, rampup_length):
    if current >= rampup_length:
        return 1.0
    return current / rampup_length


@torch.no_grad()
def update_ema(teacher, student, decay, step):
    """teacher <- decay * teacher + (1 - decay) * student, with a warm-up on ``decay``."""
    alpha = min(1.0 - 1.0 / (step + 1), decay)
    for ema_p, p in zip(teacher.parameters(), student.parameters()):
        ema_p.data.mul_(alpha).add_(p.data, alpha=1.0 - alpha)
    for ema_b, b in zip(teacher.buffers(), student.buffers()):
        ema_b.copy_(b)


def mse_consistency(student_probs, teacher_probs):
    return F.mse_loss(student_probs, teacher_probs.detach())


def dead_zone_consistency(student_probs, teacher_probs, margin=0.05):
    """L1 consistency that ignores student/teacher gaps smaller than ``margin``."""
    gap = (student_probs - teacher_probs.detach()).abs()
    return F.relu(gap - margin).mean()


def kl_consistency(student_probs, teacher_probs):
    """Bernoulli KL(teacher || student), summed over classes, averaged elsewhere."""
    t = teacher_probs.detach().clamp(EPS, 1.0 - EPS)
    kl = (t * (torch.log(t) - torch.log(student_probs))
          + (1.0 - t) * (torch.log(1.0 - t) - torch.log(1.0 - student_probs)))
    return kl.sum(dim=-1).mean()


def cosine_consistency(student_emb, teacher_emb):
    """1 - cosine similarity between student and teacher frame embeddings (B, T, D)."""
    teacher_emb = teacher_emb.detach()
    num = (student_emb * teacher_emb).sum(dim=-1)
    den = student_emb.norm(dim=-1) * teacher_emb.norm(dim=-1)
    return (1.0 - num / den).mean()


def confidence_masked_consistency(student_probs, teacher_probs, threshold=0.7):
    """Pseudo-label BCE restricted to outputs where the teacher is confident."""
    teacher_probs = teacher_probs.detach()
    confidence = torch.maximum(teacher_probs, 1.0 - teacher_probs)
    mask = (confidence > threshold).float()
    pseudo = binarize(teacher_probs, 0.5)
    loss = F.binary_cross_entropy(student_probs.clamp(EPS, 1.0 - EPS), pseudo, reduction="none")
    return (loss * mask).sum() / mask.sum().clamp(min=1.0)


def student_pseudo_label_loss(strong_probs, weak_probs, threshold=0.5, min_activity=1e-3):
    """Self-training on unlabelled clips: frames follow the student's own clip decision."""
    if weak_probs.mean() < min_activity:
        return strong_probs.new_zeros(())
    clip_on = (weak_probs > threshold).float()
    target = clip_on.unsqueeze(1).expand_as(strong_probs)
    return F.binary_cross_entropy(strong_probs.clamp(EPS, 1.0 - EPS), target)


def median_smoothness_loss(strong_probs, window=7):
    """Pull frame probabilities towards their own median-filtered trajectory."""
    smoothed = median_filter(strong_probs, window)
    return F.mse_loss(strong_probs, smoothed)


def ict_consistency(student, features, teacher_strong, teacher_weak, alpha=1.0):
    """Interpolation consistency: the student on mixed inputs matches mixed teacher outputs."""
    lam = float(np.random.beta(alpha, alpha))
    perm = torch.randperm(features.shape[0], device=features.device)
    mixed = lam * features + (1.0 - lam) * features[perm]
    strong_s, weak_s = student(mixed)
    target_strong = lam * teacher_strong + (1.0 - lam) * teacher_strong[perm]
    target_weak = lam * teacher_weak + (1.0 - lam) * teacher_weak[perm]
    return F.mse_loss(strong_s, target_strong.detach()) + F.mse_loss(weak_s, target_weak.detach())


def consistency_loss(kind):
    """Look up a consistency criterion by name."""
    if kind == "mse":
        return mse_consistency
    if kind == "kl":
        return kl_consistency
    if kind == "confidence":
        return confidence_masked_consistency
    raise ValueError(f"unknown consistency {kind!r}")
