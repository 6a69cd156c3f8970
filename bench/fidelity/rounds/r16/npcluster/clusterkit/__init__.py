"""clusterkit: clustering and mixture objectives with hand-written gradients."""
from .config import (GMMConfig, OptimizerConfig, RobustConfig, SoftKMeansConfig,
                     SpectralConfig, TSNEConfig)
from .embedding import TSNE, fuzzy_knn_graph, kl_divergence, umap_cross_entropy
from .kmeans import (SoftKMeans, balance_penalty, hard_kmeans_objective, kmeans_plusplus,
                     matched_anchor_loss, soft_kmeans_objective)
from .metrics import clustering_accuracy, normalized_mutual_info, silhouette_score
from .mixture import GaussianMixtureGD, gmm_negative_log_likelihood
from .robust import (RobustKMeans, cityblock_kmedians_objective, kmedians_objective,
                     m_estimator_objective, noise_cluster_objective,
                     trimmed_kmeans_objective)
from .spectral import (SpectralClustering, eigenmap_objective, soft_ncut,
                       spectralnet_objective, spherical_contrastive)

__version__ = "0.3.1"
