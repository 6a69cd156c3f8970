"""Training / validation steps for FastSpeech 2- and Tacotron 2-style models and waveform decoders."""
import logging
from typing import Dict

import torch

from .config import LossConfig, VarianceConfig
from .functional import frame_energy, sequence_mask
from .metrics import mel_cepstral_distortion
from .variance import average_by_duration, normalize_f0

logger = logging.getLogger(__name__)


@torch.no_grad()
def prepare_variance_targets(batch: Dict[str, torch.Tensor], cfg: VarianceConfig) -> Dict[str, torch.Tensor]:
    """Token-level normalized pitch and log-energy targets from frame-level F0 and the target mel."""
    durations = batch["durations"]
    energy = frame_energy(batch["mel"])
    if cfg.pitch_feature_level == "phoneme_level":
        pitch = normalize_f0(average_by_duration(batch["f0"], durations), cfg.log_f0_mean, cfg.log_f0_std)
    else:
        pitch = normalize_f0(batch["f0"], cfg.log_f0_mean, cfg.log_f0_std)
    if cfg.energy_feature_level == "phoneme_level":
        energy = average_by_duration(energy, durations, skip_zeros=False)
    return {"pitch": pitch, "energy": torch.log1p(energy)}


def forward_fastspeech2(model, batch, cfg: LossConfig):
    """Teacher-forced pass: encoder -> variance adaptor (ground-truth targets) -> decoder -> postnet."""
    batch = {**batch, **prepare_variance_targets(batch, cfg.variance)}
    src_pad = ~sequence_mask(batch["text_lens"], batch["tokens"].size(1))
    enc = model.encoder(batch["tokens"], src_pad)
    va = model.variance_adaptor(enc, src_pad, max_len=batch["mel"].size(1), duration_target=batch["durations"],
                                pitch_target=batch["pitch"], energy_target=batch["energy"])
    mel_pad = ~sequence_mask(va["mel_lens"], va["hidden"].size(1))
    mel = model.decoder(va["hidden"], mel_pad)
    return {**va, "mel": mel, "mel_postnet": mel + model.postnet(mel)}, batch


def forward_tacotron2(model, batch, cfg: LossConfig):
    mel, mel_postnet, stop_logits, alignments = model(batch["tokens"], batch["text_lens"], batch["mel"],
                                                      batch["mel_lens"])
    return {"mel": mel, "mel_postnet": mel_postnet, "stop_logits": stop_logits, "alignments": alignments}, batch


def train_step(model, batch, criterion, optimizer, cfg: LossConfig, step: int,
               forward_fn=forward_fastspeech2) -> Dict[str, float]:
    model.train()
    outputs, batch = forward_fn(model, batch, cfg)
    total, losses = criterion(outputs, batch, step=step)
    total = total / cfg.grad_accum_steps
    if not torch.isfinite(total):
        logger.warning("step %d: non-finite loss, skipping batch", step)
        optimizer.zero_grad(set_to_none=True)
        return {"skipped": 1.0}
    total.backward()
    stats = {k: v.item() for k, v in losses.items()}
    if (step + 1) % cfg.grad_accum_steps == 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stats["grad_norm"] = grad_norm.item()
    return stats


def validation_step(model, batch, criterion, cfg: LossConfig, step: int, forward_fn=forward_fastspeech2):
    model.eval()
    with torch.no_grad():
        outputs, batch = forward_fn(model, batch, cfg)
        _, losses = criterion(outputs, batch, step=step)
        stats = {k: v.item() for k, v in losses.items()}
        mcd = mel_cepstral_distortion(outputs["mel_postnet"], batch["mel"], batch["mel_lens"])
    stats["mcd"] = mcd.item()
    return stats


def waveform_train_step(generator, batch, optimizer, cfg: LossConfig, stft_criterion, mel_criterion):
    """Generator update with the multi-resolution STFT and mel reconstruction losses (no adversary)."""
    generator.train()
    wav_pred = generator(batch["mel"].transpose(1, 2)).squeeze(1)
    wav = batch["wav"][..., : wav_pred.size(-1)]
    sc_loss, mag_loss = stft_criterion(wav_pred, wav)
    mel_loss = mel_criterion(wav_pred, wav)
    total = cfg.stft_weight * (sc_loss + mag_loss) + cfg.wav_mel_weight * mel_loss
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(generator.parameters(), cfg.grad_clip)
    optimizer.step()
    return {"sc": sc_loss.item(), "mag": mag_loss.item(), "mel": mel_loss.item(), "grad_norm": grad_norm.item()}
