"""poselift: losses, priors and metrics for 3D human pose estimation and body-model fitting."""
from .camera import PerspectiveCamera, in_frame_mask, perspective_projection, weak_perspective_to_translation
from .fitting import FittingConfig, RegressorConfig, SMPLifyFitter, build_criteria, regressor_train_step
from .losses import (BoneDirectionLoss, BoneLengthLoss, ConfidenceWeightedL1Loss, DistanceMapLoss,
                     GroundPenetrationLoss, HardJointLoss, HeteroscedasticKeypointLoss, Keypoint2DLoss,
                     LimbSymmetryLoss, MPJPELoss, MultiHypothesisLoss, NormalizedMPJPELoss,
                     ReprojectionLoss, RotationLoss, TemporalSmoothnessLoss, gmof)
from .metrics import PoseMetricTracker, mpjpe, n_mpjpe, pa_mpjpe, pck, procrustes_align
from .priors import FlexionLimitPrior, JointLimitPrior, MaxMixturePrior
from .rotations import (axis_angle_to_matrix, geodesic_distance, matrix_to_axis_angle,
                        quaternion_to_matrix, rotation_6d_to_matrix)
from .skeleton import Skeleton, bone_lengths

__version__ = "0.3.1"
