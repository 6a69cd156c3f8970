"""trajnet: learned trajectory optimisation and motion planning in PyTorch.

The package provides differentiable forward kinematics for serial chains, signed
distance functions for obstacle scenes, trajectory cost terms (collision, joint
limits, smoothness, jerk, goal reaching) and losses for imitating demonstrations.
"""
from .config import (CollisionConfig, CostWeights, ImitationConfig, TrainConfig,
                     TrajOptConfig)
from .costs import (CollisionCost, GoalCost, JerkCost, JointLimitCost,
                    ManipulabilityCost, OrientationCost, SelfCollisionCost,
                    SmoothnessCost, TrajectoryCost, VelocityLimitCost)
from .geometry import Scene, box_sdf, scene_sdf, sphere_sdf
from .imitation import (BehaviorCloningLoss, DTWImitationLoss,
                        GaussianTrajectoryNLL, MultiModalImitationLoss,
                        PhaseImitationLoss, path_chamfer)
from .kinematics import DHChainSpec, SerialChain
from .metrics import summarize
from .train import PlannerTrainer, unrolled_refine

__version__ = "0.3.1"
