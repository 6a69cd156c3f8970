"""gpjaxlite: small Gaussian-process regression and classification in JAX."""
from .config import (ExperimentConfig, InferenceConfig, KernelConfig, LikelihoodConfig,
                     PriorConfig, TrainConfig)
from .kernels import (RBF, ArcCosine, Brownian, DeepKernel, FeatureExtractor, InputWarped, Kernel,
                      Matern12, Matern32, Matern52, Periodic, RationalQuadratic, build_kernel)
from .laplace import find_mode, laplace_log_marginal, laplace_posterior, laplace_predict
from .likelihoods import (Bernoulli, Gaussian, Laplacian, Likelihood, MultiClass, Poisson,
                          build_likelihood)
from .objectives import (collapsed_elbo, exact_marginal_log_likelihood, loo_log_predictive,
                         svgp_elbo, warped_marginal_log_likelihood)
from .parameters import init_kernel_params, init_likelihood_params, init_variational_params
from .train import fit, make_loss, make_train_step

__version__ = "0.0"
