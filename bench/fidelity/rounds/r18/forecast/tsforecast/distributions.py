"""Distribution heads: map network features to the parameters of a predictive distribution."""
import math
from typing import Callable, Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

_HALF_LOG_2PI = 0.9189385332046727  # 0.5 * log(2 * pi)


class ParameterProjection(nn.Module):
    """One linear layer per distribution argument, followed by ``domain_map``."""

    def __init__(self, in_features: int, args_dim: Dict[str, int], domain_map: Callable):
        super().__init__()
        self.proj = nn.ModuleList([nn.Linear(in_features, d) for d in args_dim.values()])
        self.domain_map = domain_map

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        params_unbounded = [proj(x) for proj in self.proj]
        return self.domain_map(*params_unbounded)


class Distribution:
    """The small interface that the losses and the evaluation loop rely on."""

    @property
    def mean(self) -> torch.Tensor:
        raise NotImplementedError

    def point_forecast(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def crps(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form CRPS")

    def rsample(self, num_samples: int) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, num_samples: int = 100) -> torch.Tensor:
        return self.rsample(num_samples)


class Normal(Distribution):
    def __init__(self, loc: torch.Tensor, scale: torch.Tensor):
        self.loc = loc
        self.scale = scale

    @property
    def mean(self):
        return self.loc

    def log_prob(self, x):
        z = (x - self.loc) / self.scale
        return -0.5 * z * z - torch.log(self.scale) - _HALF_LOG_2PI

    def crps(self, x):
        z = (x - self.loc) / self.scale
        cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        return self.scale * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))

    def rsample(self, num_samples):
        eps = torch.randn((num_samples,) + self.loc.shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + self.scale * eps


class NegativeBinomial(Distribution):
    """Negative binomial in the mean / dispersion parameterisation used by DeepAR."""

    def __init__(self, mu: torch.Tensor, alpha: torch.Tensor):
        self.mu = mu
        self.alpha = alpha

    @property
    def mean(self):
        return self.mu

    def log_prob(self, x):
        r = 1.0 / self.alpha
        log_total = torch.log(r + self.mu)
        return (
            torch.lgamma(x + r)
            - torch.lgamma(x + 1.0)
            - torch.lgamma(r)
            + r * (torch.log(r) - log_total)
            + x * (torch.log(self.mu) - log_total)
        )


class MixtureNormal(Distribution):
    """Mixture of Gaussians; component parameters live on the last axis."""

    def __init__(self, logits: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor):
        self.log_weights = F.log_softmax(logits, dim=-1)
        self.loc = loc
        self.scale = scale

    @property
    def mean(self):
        return (self.log_weights.exp() * self.loc).sum(-1)

    def point_forecast(self):
        idx = torch.argmax(self.log_weights, dim=-1, keepdim=True)
        return torch.gather(self.loc, -1, idx).squeeze(-1)

    def log_prob(self, x):
        z = (x.unsqueeze(-1) - self.loc) / self.scale
        comp = -0.5 * z * z - torch.log(self.scale) - _HALF_LOG_2PI
        return torch.logsumexp(self.log_weights + comp, dim=-1)


class AffineTransformed(Distribution):
    """``base * scale + loc``: maps a distribution in scaled space back to data space."""

    def __init__(self, base: Distribution, loc=None, scale=None):
        self.base = base
        self.loc = 0.0 if loc is None else loc
        self.scale = 1.0 if scale is None else scale

    @property
    def mean(self):
        return self.base.mean * self.scale + self.loc

    def point_forecast(self):
        return self.base.point_forecast() * self.scale + self.loc

    def log_prob(self, x):
        y = (x - self.loc) / self.scale
        return self.base.log_prob(y) - torch.log(torch.as_tensor(self.scale))

    def crps(self, x):
        return self.base.crps((x - self.loc) / self.scale) * self.scale

    def rsample(self, num_samples):
        return self.base.rsample(num_samples) * self.scale + self.loc


class DistributionOutput:
    """Describes a distribution family: its arguments and how to constrain them."""

    args_dim: Dict[str, int] = {}
    distr_cls: type = Distribution

    def get_args_proj(self, in_features: int) -> ParameterProjection:
        return ParameterProjection(in_features, self.args_dim, self.domain_map)

    def domain_map(self, *args: torch.Tensor):
        raise NotImplementedError

    def distribution(self, distr_args, loc=None, scale=None) -> Distribution:
        distr = self.distr_cls(*distr_args)
        if loc is None and scale is None:
            return distr
        return AffineTransformed(distr, loc=loc, scale=scale)


class NormalOutput(DistributionOutput):
    args_dim = {"loc": 1, "scale": 1}
    distr_cls = Normal

    def domain_map(self, loc, scale):
        scale = F.softplus(scale).clamp_min(torch.finfo(scale.dtype).eps)
        return loc.squeeze(-1), scale.squeeze(-1)


class NegativeBinomialOutput(DistributionOutput):
    args_dim = {"mu": 1, "alpha": 1}
    distr_cls = NegativeBinomial

    def __init__(self, minimum_alpha: float = 1e-6):
        self.minimum_alpha = minimum_alpha

    def domain_map(self, mu, alpha):
        mu = F.softplus(mu)
        alpha = F.softplus(alpha) + self.minimum_alpha
        return mu.squeeze(-1), alpha.squeeze(-1)

    def distribution(self, distr_args, loc=None, scale=None):
        mu, alpha = distr_args
        if scale is not None:
            mu = mu * scale
            alpha = alpha / torch.sqrt(scale)
        return NegativeBinomial(mu, alpha)


class MixtureNormalOutput(DistributionOutput):
    distr_cls = MixtureNormal

    def __init__(self, num_components: int = 3, minimum_scale: float = 1e-4):
        self.args_dim = {"logits": num_components, "loc": num_components, "scale": num_components}
        self.minimum_scale = minimum_scale

    def domain_map(self, logits, loc, scale):
        return logits, loc, F.softplus(scale) + self.minimum_scale
