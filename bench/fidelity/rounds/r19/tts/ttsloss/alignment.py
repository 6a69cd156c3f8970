"""Alignment: monotonic alignment search, guided attention, forward-sum and binarization losses."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from .functional import masked_mean, sequence_mask


def _maximum_path_each(path: np.ndarray, value: np.ndarray, t_x: int, t_y: int,
                       max_neg_val: float = -1e9) -> None:
    """Viterbi over one (t_x, t_y) log-likelihood matrix; writes the best monotonic path in place."""
    index = t_x - 1
    for y in range(t_y):
        for x in range(max(0, t_x + y - t_y), min(t_x, y + 1)):
            if x == y:
                v_cur = max_neg_val
            else:
                v_cur = value[x, y - 1]
            if x == 0:
                v_prev = 0.0 if y == 0 else max_neg_val
            else:
                v_prev = value[x - 1, y - 1]
            value[x, y] += max(v_prev, v_cur)
    for y in range(t_y - 1, -1, -1):
        path[index, y] = 1
        if index != 0 and (index == y or value[index, y - 1] < value[index - 1, y - 1]):
            index = index - 1


def maximum_path(value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Monotonic alignment search (Glow-TTS). value, mask: (B, T_text, T_mel); returns a 0/1 path."""
    device, dtype = value.device, value.dtype
    value_np = (value * mask).cpu().numpy().astype(np.float32)
    path = np.zeros_like(value_np, dtype=np.int32)
    mask_np = mask.cpu().numpy()
    t_x_max = mask_np.sum(1)[:, 0].astype(np.int32)
    t_y_max = mask_np.sum(2)[:, 0].astype(np.int32)
    for b in range(value_np.shape[0]):
        _maximum_path_each(path[b], value_np[b], t_x_max[b], t_y_max[b])
    return torch.from_numpy(path).to(device=device, dtype=dtype)


@torch.no_grad()
def binarize_attention(soft_attn: torch.Tensor, in_lens: torch.Tensor, out_lens: torch.Tensor) -> torch.Tensor:
    """Hard alignment (B, 1, T_mel, T_text) from a soft aligner attention map via MAS."""
    attn_mask = sequence_mask(out_lens, soft_attn.size(2)).unsqueeze(2) & \
        sequence_mask(in_lens, soft_attn.size(3)).unsqueeze(1)
    log_attn = torch.log(soft_attn.squeeze(1).clamp_min(1e-8))
    hard = maximum_path(log_attn.transpose(1, 2).contiguous(), attn_mask.transpose(1, 2).float())
    return hard.transpose(1, 2).unsqueeze(1)


def durations_from_alignment(hard_attn: torch.Tensor) -> torch.Tensor:
    """Number of mel frames assigned to each token, (B, T_text)."""
    return hard_attn.squeeze(1).sum(1)


@torch.no_grad()
def durations_from_attention(att_ws: torch.Tensor, ilens: torch.Tensor, olens: torch.Tensor) -> torch.Tensor:
    """FastSpeech teacher durations: count, per token, the decoder steps whose attention peaks on it."""
    durations = []
    for att, ilen, olen in zip(att_ws, ilens.tolist(), olens.tolist()):
        idx = att[:olen, :ilen].argmax(dim=-1)
        durations.append(torch.bincount(idx, minlength=ilen))
    return pad_sequence(durations, batch_first=True)


class GuidedAttentionLoss(nn.Module):
    """Guided attention loss (Tachibana et al., 2017): penalize attention far from the diagonal."""

    def __init__(self, sigma: float = 0.4, alpha: float = 1.0, reset_always: bool = True):
        super().__init__()
        self.sigma = sigma
        self.alpha = alpha
        self.reset_always = reset_always
        self.guided_attn_masks = None
        self.masks = None

    def forward(self, att_ws: torch.Tensor, ilens: torch.Tensor, olens: torch.Tensor) -> torch.Tensor:
        """att_ws: (B, T_out, T_in) attention weights; ilens/olens: input and output lengths."""
        if self.guided_attn_masks is None:
            self.guided_attn_masks = self._make_guided_attention_masks(ilens, olens).to(att_ws.device)
        if self.masks is None:
            self.masks = self._make_masks(ilens, olens).to(att_ws.device)
        losses = self.guided_attn_masks * att_ws
        loss = torch.mean(losses.masked_select(self.masks))
        if self.reset_always:
            self.guided_attn_masks, self.masks = None, None
        return self.alpha * loss

    def _make_guided_attention_masks(self, ilens, olens):
        n_batches = len(ilens)
        max_ilen, max_olen = int(ilens.max()), int(olens.max())
        guided_attn_masks = torch.zeros((n_batches, max_olen, max_ilen))
        for idx, (ilen, olen) in enumerate(zip(ilens.tolist(), olens.tolist())):
            guided_attn_masks[idx, :olen, :ilen] = self._make_guided_attention_mask(ilen, olen, self.sigma)
        return guided_attn_masks

    @staticmethod
    def _make_guided_attention_mask(ilen: int, olen: int, sigma: float) -> torch.Tensor:
        grid_x, grid_y = torch.meshgrid(torch.arange(olen).float(), torch.arange(ilen).float(), indexing="ij")
        return 1.0 - torch.exp(-((grid_y / ilen - grid_x / olen) ** 2) / (2 * (sigma ** 2)))

    @staticmethod
    def _make_masks(ilens, olens):
        in_masks = sequence_mask(ilens)
        out_masks = sequence_mask(olens)
        return out_masks.unsqueeze(-1) & in_masks.unsqueeze(-2)


def attention_entropy_loss(att_ws: torch.Tensor, olens: torch.Tensor) -> torch.Tensor:
    """Mean entropy of each decoder step's attention distribution; low entropy means a sharp alignment."""
    entropy = -(att_ws * torch.log(att_ws)).sum(dim=-1)
    return masked_mean(entropy, sequence_mask(olens, att_ws.size(1)))


def monotonic_attention_penalty(att_ws: torch.Tensor, ilens: torch.Tensor, olens: torch.Tensor) -> torch.Tensor:
    """Penalize the attention centroid moving backwards between consecutive decoder steps."""
    positions = torch.arange(att_ws.size(-1), device=att_ws.device, dtype=att_ws.dtype)
    centroid = (att_ws * positions).sum(dim=-1) / ilens.unsqueeze(1).to(att_ws.dtype)
    backward = torch.relu(centroid[:, :-1] - centroid[:, 1:])
    mask = sequence_mask(olens - 1, att_ws.size(1) - 1)
    return masked_mean(backward, mask)


class ForwardSumLoss(nn.Module):
    """CTC-based alignment likelihood over all monotonic paths (One TTS Alignment to Rule Them All)."""

    def __init__(self, blank_logprob: float = -1.0):
        super().__init__()
        self.log_softmax = nn.LogSoftmax(dim=3)
        self.ctc_loss = nn.CTCLoss(zero_infinity=True)
        self.blank_logprob = blank_logprob

    def forward(self, attn_logprob: torch.Tensor, in_lens: torch.Tensor, out_lens: torch.Tensor) -> torch.Tensor:
        """attn_logprob: (B, 1, T_mel, T_text) unnormalized alignment log-scores."""
        attn_logprob_padded = F.pad(attn_logprob, (1, 0), value=self.blank_logprob)
        total_loss = 0.0
        for bid in range(attn_logprob.shape[0]):
            target_seq = torch.arange(1, int(in_lens[bid]) + 1, device=attn_logprob.device).unsqueeze(0)
            curr_logprob = attn_logprob_padded[bid].permute(1, 0, 2)
            curr_logprob = curr_logprob[: out_lens[bid], :, : in_lens[bid] + 1]
            curr_logprob = self.log_softmax(curr_logprob[None])[0]
            total_loss += self.ctc_loss(curr_logprob, target_seq, input_lengths=out_lens[bid: bid + 1],
                                        target_lengths=in_lens[bid: bid + 1])
        total_loss /= attn_logprob.shape[0]
        return total_loss


class BinarizationLoss(nn.Module):
    """Pull the soft alignment towards its MAS-binarized version (RAD-TTS bin loss)."""

    def forward(self, hard_attention: torch.Tensor, soft_attention: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
        log_sum = torch.log(torch.clamp(soft_attention[hard_attention == 1], min=eps)).sum()
        return -log_sum / hard_attention.sum()
