"""Training losses for neural text-to-speech (Tacotron 2, FastSpeech 2, Glow-TTS aligners, vocoders)."""
from .alignment import (BinarizationLoss, ForwardSumLoss, GuidedAttentionLoss, binarize_attention,
                        durations_from_attention, maximum_path)
from .config import LossConfig, MelConfig, STFTConfig, VarianceConfig
from .losses import FastSpeech2Loss, MelLoss, StopTokenLoss, Tacotron2Loss
from .stft_loss import MelReconstructionLoss, MultiResolutionSTFTLoss, STFTLoss
from .train import train_step, validation_step, waveform_train_step
from .variance import DurationPredictorLoss, LengthRegulator, PitchLoss, VarianceAdaptor, VariancePredictor
