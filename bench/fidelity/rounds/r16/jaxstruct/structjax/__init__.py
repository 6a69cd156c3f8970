"""structjax: structured prediction losses in JAX."""
from .alignment import (SoftDTWLoss, ctc_log_likelihood, ctc_loss, dilate_loss,
                        distance_matrix, soft_alignment, soft_dtw, soft_dtw_divergence,
                        soft_dtw_value)
from .config import (CRFConfig, CTCConfig, HingeConfig, RankingConfig, SoftDTWConfig,
                     TrainConfig)
from .crf import (LinearChainCRF, crf_log_partition, crf_loss, crf_marginals, crf_nll,
                  crf_sequence_score, marginal_entropy, viterbi_decode)
from .metrics import (ctc_greedy_decode, dtw_distance, edit_distance, ndcg_at_k,
                      precision_at_k, token_accuracy)
from .ranking import (approx_ndcg_loss, lambda_loss, listmle_loss, listnet_loss,
                      neural_sort, soft_rank, spearman_loss)
from .ssvm import (hard_negative_hinge, multiclass_hinge, pairwise_ranking_hinge,
                   structured_hinge_loss, token_hinge_loss)
from .train import Tagger, compute_loss, create_state, make_optimizer, train_step

