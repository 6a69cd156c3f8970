"""Knowledge-distillation objectives: logit KD, DKD, attention transfer, FitNets hints, RKD."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
            temperature: float = 4.0) -> torch.Tensor:
    """Hinton et al. (2015): T^2 * KL(teacher_T || student_T)."""
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    p_t = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    return F.kl_div(log_p_s, p_t, reduction="batchmean") * temperature ** 2


def soft_cross_entropy(student_logits: torch.Tensor, teacher_probs: torch.Tensor,
                       temperature: float = 1.0) -> torch.Tensor:
    p_s = F.softmax(student_logits / temperature, dim=-1)
    return -(teacher_probs * torch.log(p_s)).sum(dim=-1).mean()


class KDLoss(nn.Module):
    """alpha * KD + (1 - alpha) * CE, optionally restricted to samples where the teacher
    is confident or assigns more mass to the true class than the student."""

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9,
                 confidence_threshold: float = 0.0, only_where_teacher_better: bool = False):
        super().__init__()
        self.temperature, self.alpha = temperature, alpha
        self.confidence_threshold = confidence_threshold
        self.only_where_teacher_better = only_where_teacher_better

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        ce = F.cross_entropy(student_logits, labels)
        kd = F.kl_div(F.log_softmax(student_logits / t, dim=-1),
                      F.softmax(teacher_logits / t, dim=-1), reduction="none").sum(-1) * t * t
        weights = torch.ones_like(kd)
        if self.confidence_threshold > 0:
            conf, _ = F.softmax(teacher_logits, dim=-1).max(dim=-1)
            weights = weights * (conf > self.confidence_threshold).float()
        if self.only_where_teacher_better:
            p_s = F.softmax(student_logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
            p_t = F.softmax(teacher_logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
            weights = weights * (p_t > p_s).float()
        if weights.sum() > 0:
            kd = (kd * weights).sum() / weights.sum()
        else:
            kd = kd.sum() * 0.0
        return self.alpha * kd + (1.0 - self.alpha) * ce


def _cat_mask(t: torch.Tensor, mask1: torch.Tensor, mask2: torch.Tensor) -> torch.Tensor:
    t1 = (t * mask1).sum(dim=1, keepdim=True)
    t2 = (t * mask2).sum(dim=1, keepdim=True)
    return torch.cat([t1, t2], dim=1)


def dkd_loss(logits_student: torch.Tensor, logits_teacher: torch.Tensor, target: torch.Tensor,
             alpha: float, beta: float, temperature: float) -> torch.Tensor:
    """Decoupled KD (Zhao et al. 2022): target-class and non-target-class terms."""
    gt_mask = torch.zeros_like(logits_student).scatter_(1, target.reshape(-1, 1), 1).bool()
    other_mask = ~gt_mask
    pred_student = F.softmax(logits_student / temperature, dim=1)
    pred_teacher = F.softmax(logits_teacher / temperature, dim=1)
    pred_student = _cat_mask(pred_student, gt_mask, other_mask)
    pred_teacher = _cat_mask(pred_teacher, gt_mask, other_mask)
    log_pred_student = torch.log(pred_student)
    tckd = F.kl_div(log_pred_student, pred_teacher, reduction="sum") * temperature ** 2 / target.shape[0]
    pred_teacher_part2 = F.softmax(logits_teacher / temperature - 1000.0 * gt_mask, dim=1)
    log_pred_student_part2 = F.log_softmax(logits_student / temperature - 1000.0 * gt_mask, dim=1)
    nckd = F.kl_div(log_pred_student_part2, pred_teacher_part2, reduction="sum") * temperature ** 2 / target.shape[0]
    return alpha * tckd + beta * nckd


def attention_map(feat: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Spatial attention: channel mean of A^p, flattened and L2-normalised."""
    am = feat.pow(p).mean(dim=1)
    return F.normalize(am.view(am.shape[0], -1), dim=1)


def attention_transfer_loss(student_feats: Sequence[torch.Tensor],
                            teacher_feats: Sequence[torch.Tensor], p: float = 2.0) -> torch.Tensor:
    loss = 0.0
    for fs, ft in zip(student_feats, teacher_feats):
        if fs.shape[-2:] != ft.shape[-2:]:
            fs = F.adaptive_avg_pool2d(fs, ft.shape[-2:])
        loss = loss + (attention_map(fs, p) - attention_map(ft.detach(), p)).pow(2).mean()
    return loss


class HintLoss(nn.Module):
    """FitNets hint: regress teacher features from a 1x1 adapter on the student."""

    def __init__(self, student_channels: int, teacher_channels: int, kind: str = "l2"):
        super().__init__()
        self.regressor = nn.Conv2d(student_channels, teacher_channels, 1, bias=False)
        self.kind = kind

    def forward(self, student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
        pred, target = self.regressor(student_feat), teacher_feat.detach()
        if self.kind == "l1":
            return (pred - target).abs().mean()
        return F.mse_loss(pred, target)


def pairwise_distance(e: torch.Tensor, squared: bool = False, eps: float = 1e-12) -> torch.Tensor:
    e_square = e.pow(2).sum(dim=1)
    prod = e @ e.t()
    res = (e_square.unsqueeze(1) + e_square.unsqueeze(0) - 2 * prod).clamp(min=eps)
    if not squared:
        res = res.sqrt()
    res = res.clone()
    res[range(len(e)), range(len(e))] = 0
    return res


class RKDLoss(nn.Module):
    """Relational KD (Park et al. 2019): distance-wise and angle-wise potentials."""

    def __init__(self, distance_weight: float = 25.0, angle_weight: float = 50.0):
        super().__init__()
        self.distance_weight, self.angle_weight = distance_weight, angle_weight

    def distance_term(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_d = pairwise_distance(teacher)
            t_d = t_d / t_d[t_d > 0].mean()
        d = pairwise_distance(student)
        d = d / d[d > 0].mean()
        return F.smooth_l1_loss(d, t_d)

    def angle_term(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            td = F.normalize(teacher.unsqueeze(0) - teacher.unsqueeze(1), p=2, dim=2)
            t_angle = torch.bmm(td, td.transpose(1, 2)).view(-1)
        sd = F.normalize(student.unsqueeze(0) - student.unsqueeze(1), p=2, dim=2)
        s_angle = torch.bmm(sd, sd.transpose(1, 2)).view(-1)
        return F.smooth_l1_loss(s_angle, t_angle)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        loss = 0.0
        if self.distance_weight > 0:
            loss = loss + self.distance_weight * self.distance_term(student, teacher)
        if self.angle_weight > 0:
            loss = loss + self.angle_weight * self.angle_term(student, teacher)
        return loss
