"""sedlib: sound event detection and audio tagging building blocks for PyTorch.

Frame-level (strong) and clip-level (weak) losses, temporal pooling heads,
mean-teacher consistency, spectrogram augmentation, post-processing and
event-based evaluation.
"""
from .config import (AugmentConfig, FeatureConfig, LossConfig, PostprocessConfig,
                     TeacherConfig, TrainConfig)
from .frontend import PCEN, LogMelSpectrogram, normalize_features
from .pooling import (AttentionPooling, AutoPool, GeMPooling, PowerPooling, SEDHead,
                      linear_softmax_pooling, max_pooling)
from .losses import AsymmetricLoss, FocalLoss, clip_bce, frame_bce, mil_loss
from .consistency import (kl_consistency, mse_consistency, sigmoid_rampup,
                          update_ema)
from .postprocess import (audio_tagging_map, event_based_f1, median_filter,
                          predictions_to_events)
from .train import train_step, validation_step

__version__ = "0.3.1"
