"""Unit conversions and normalisation for radar reflectivity and rain rate."""
import torch

# Marshall-Palmer Z-R relationship, Z = a * R ** b
MP_A = 200.0
MP_B = 1.6


def dbz_to_rainrate(dbz, a=MP_A, b=MP_B):
    """Reflectivity (dBZ) to rain rate (mm/h)."""
    z = 10.0 ** (dbz / 10.0)
    return (z / a) ** (1.0 / b)


def rainrate_to_dbz(rain, a=MP_A, b=MP_B, min_rain=1e-2):
    """Rain rate (mm/h) to reflectivity (dBZ); dry pixels map to the floor value."""
    z = a * rain.clamp_min(min_rain) ** b
    return 10.0 * torch.log10(z)


def quantize_dbz(dbz, step=0.5):
    """Round reflectivity to the radar product's resolution."""
    return torch.round(dbz / step) * step


def inverse_log_rain(x, offset=0.01):
    """Decode a network output in ``log(R + offset)`` space back to rain rate."""
    return (torch.exp(x) - offset).clamp_min(0.0)


def rain_to_classes(rain, edges):
    """Index of the rain-rate bin of every pixel."""
    return torch.bucketize(rain, edges)


class Normalizer:
    """Affine normalisation of model inputs with dataset statistics."""

    def __init__(self, mean=0.0, std=1.0):
        self.mean = mean
        self.std = std

    def encode(self, x):
        return (x - self.mean) / self.std

    def decode(self, x):
        return x * self.std + self.mean

    @classmethod
    def fit(cls, frames):
        mean = frames.mean().item()
        std = frames.std().item()
        return cls(mean, max(std, 1e-6))


def crop_center(x, size):
    h, w = x.shape[-2:]
    top = (h - size) // 2
    left = (w - size) // 2
    return x[..., top:top + size, left:left + size]


def prepare_batch(dbz, normalizer, input_steps):
    """Split a (B, T, H, W) reflectivity sequence into model inputs and rain targets."""
    context = normalizer.encode(dbz[:, :input_steps])
    target = dbz_to_rainrate(dbz[:, input_steps:])
    mask = torch.isfinite(target)
    target = torch.where(mask, target, torch.zeros_like(target))
    return {"context": context, "target": target, "mask": mask}
