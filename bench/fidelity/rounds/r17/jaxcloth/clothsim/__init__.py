"""clothsim: differentiable mass-spring cloth in JAX for system identification."""

from clothsim.config import ClothConfig, ContactConfig, SimConfig, SysIdConfig
from clothsim.mesh import ClothMesh, build_mesh
from clothsim.integrate import ClothState, rollout, rollout_adaptive, step
from clothsim.losses import TrajectoryLoss, chamfer_distance, hausdorff_distance
from clothsim.train import Observation, fit, init_params, make_loss_fn

__all__ = [
    "ClothConfig", "ContactConfig", "SimConfig", "SysIdConfig", "ClothMesh", "build_mesh",
    "ClothState", "rollout", "rollout_adaptive", "step", "TrajectoryLoss", "chamfer_distance",
    "hausdorff_distance", "Observation", "fit", "init_params", "make_loss_fn",
]

__version__ = "0.3.1"
