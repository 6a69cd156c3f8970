"""Configuration dataclasses for the TTS loss suite."""
from dataclasses import dataclass, field
from typing import Tuple


@dataclass
class MelConfig:
    """Feature extraction settings (HiFi-GAN / FastSpeech 2 LJSpeech defaults)."""
    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    log_eps: float = 1e-5


@dataclass
class STFTConfig:
    """Resolutions of the multi-resolution STFT loss (Parallel WaveGAN defaults)."""
    fft_sizes: Tuple[int, ...] = (1024, 2048, 512)
    hop_sizes: Tuple[int, ...] = (120, 240, 50)
    win_lengths: Tuple[int, ...] = (600, 1200, 240)
    window: str = "hann_window"
    factor_sc: float = 1.0
    factor_mag: float = 1.0


@dataclass
class VarianceConfig:
    """Variance adaptor settings: feature level, quantization bins and F0 statistics."""
    pitch_feature_level: str = "phoneme_level"  # or "frame_level"
    energy_feature_level: str = "phoneme_level"
    n_bins: int = 256
    pitch_min: float = -2.9
    pitch_max: float = 11.5
    energy_min: float = -1.4
    energy_max: float = 8.2
    f0_std: float = 53.0
    log_f0_mean: float = 5.27
    log_f0_std: float = 0.26
    use_uv: bool = False
    min_f0: float = 50.0
    duration_offset: float = 1.0
    max_duration: int = 75
    detach_duration_input: bool = True


@dataclass
class LossConfig:
    """Weights and switches of the composite acoustic-model and waveform losses."""
    mel_loss: str = "l1"  # "l1", "l2" or "smooth_l1"
    reduction: str = "mean"
    mel_weight: float = 1.0
    postnet_weight: float = 1.0
    duration_weight: float = 1.0
    total_duration_weight: float = 0.0
    pitch_weight: float = 0.1
    pitch_hz_weight: float = 0.0
    uv_weight: float = 1.0
    energy_weight: float = 0.1
    mel_energy_weight: float = 0.0
    ssim_weight: float = 0.0
    stop_weight: float = 1.0
    stop_pos_weight: float = 5.0
    guided_attn_weight: float = 1.0
    guided_attn_sigma: float = 0.4
    guided_attn_until_focus: float = 0.6
    attn_entropy_weight: float = 0.0
    monotonic_weight: float = 0.0
    forward_sum_weight: float = 1.0
    bin_weight: float = 1.0
    bin_warmup_steps: int = 6000
    stft_weight: float = 1.0
    wav_mel_weight: float = 45.0
    grad_clip: float = 1.0
    grad_accum_steps: int = 1
    mel: MelConfig = field(default_factory=MelConfig)
    stft: STFTConfig = field(default_factory=STFTConfig)
    variance: VarianceConfig = field(default_factory=VarianceConfig)
