"""One optimisation step of mean-teacher SED on a mixed strong/weak/unlabelled batch."""
import torch

from .augment import frame_shift, mixup, spec_augment
from .config import TrainConfig
from .consistency import consistency_loss, sigmoid_rampup, update_ema
from .losses import FocalLoss, clip_bce, frame_bce, temporal_smoothness, weak_strong_loss
from .postprocess import audio_tagging_map, event_based_f1, predictions_to_events


def build_criteria(cfg: TrainConfig):
    if cfg.loss.strong_loss == "focal":
        strong = FocalLoss(gamma=cfg.loss.focal_gamma, alpha=cfg.loss.focal_alpha)
    else:
        strong = frame_bce

    def weak(probs, labels):
        return clip_bce(probs, labels, cfg.loss.label_smoothing)

    return strong, weak


def _batch_masks(n_total, n_strong, n_weak, device):
    strong_mask = torch.zeros(n_total, dtype=torch.bool, device=device)
    weak_mask = torch.zeros(n_total, dtype=torch.bool, device=device)
    strong_mask[:n_strong] = True
    weak_mask[n_strong:n_strong + n_weak] = True
    return strong_mask, weak_mask


def train_step(student, teacher, frontend, pcen, optimizer, batch, cfg: TrainConfig, step):
    """``batch``: audio (B, samples), labels (B, T, C) strong labels, counts of strong/weak clips.

    Weak clips carry their clip-level tags as constant strong labels; the rest of
    the batch is unlabelled. Returns a dict of floats for logging.
    """
    audio, labels = batch["audio"], batch["labels"]
    mels = frontend(audio)
    strong_mask, weak_mask = _batch_masks(mels.shape[0], batch["n_strong"], batch["n_weak"],
                                          mels.device)
    mels, labels = frame_shift(mels, labels, cfg.augment.max_shift_frames, cfg.net_pooling)
    if cfg.augment.mixup_prob > 0 and torch.rand(1).item() < cfg.augment.mixup_prob:
        mixed, mixed_labels = mixup(mels[strong_mask], labels[strong_mask],
                                    cfg.augment.mixup_alpha, cfg.augment.mixup_label_type)
        mels[strong_mask], labels[strong_mask] = mixed, mixed_labels
    labels_weak = (labels[weak_mask].sum(dim=1) > 0).float()

    student_in = spec_augment(mels, cfg.augment)
    if pcen is not None:
        student_in, teacher_in = pcen(student_in), pcen(mels)
    else:
        teacher_in = mels
    strong_s, weak_s = student(student_in)
    with torch.no_grad():
        strong_t, weak_t = teacher(teacher_in)

    strong_crit, weak_crit = build_criteria(cfg)
    loss_strong, loss_weak = weak_strong_loss(strong_s, weak_s, labels, labels_weak,
                                              strong_mask, weak_mask, strong_crit, weak_crit)
    if cfg.loss.balance_losses:
        ratio = loss_strong.item() / max(loss_weak.item(), 1e-8)
        loss_weak = loss_weak * ratio
    supervised = loss_strong + cfg.loss.weak_weight * loss_weak

    criterion = consistency_loss(cfg.teacher.consistency)
    w_cons = cfg.teacher.const_max * sigmoid_rampup(step, cfg.teacher.rampup_length)
    loss_cons = criterion(strong_s, strong_t) + criterion(weak_s, weak_t)
    total = supervised + w_cons * loss_cons
    if cfg.loss.smoothness_weight > 0:
        total = total + cfg.loss.smoothness_weight * temporal_smoothness(strong_s)
    if not torch.isfinite(total):
        total = supervised

    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(student.parameters(), cfg.grad_clip)
    optimizer.step()
    update_ema(teacher, student, cfg.teacher.ema_decay, step)

    return {
        "loss": total.item(),
        "loss_strong": loss_strong.item(),
        "loss_weak": loss_weak.item(),
        "loss_cons": loss_cons.item(),
        "w_cons": w_cons,
    }


@torch.no_grad()
def validation_step(model, frontend, pcen, batch, cfg: TrainConfig, ground_truth):
    """Compute event-based F1 and tagging mAP on a validation batch."""
    mels = frontend(batch["audio"])
    feats = pcen(mels) if pcen is not None else mels
    strong, weak = model(feats)
    labels_weak = (batch["labels"].sum(dim=1) > 0).float()
    events = predictions_to_events(strong, cfg.post)
    f1, _ = event_based_f1(ground_truth, events, cfg.n_classes, cfg.post.collar_s,
                           cfg.post.pct_length)
    return {
        "val_weak_bce": clip_bce(weak, labels_weak).item(),
        "event_f1": f1,
        "tagging_map": audio_tagging_map(weak, labels_weak),
    }
