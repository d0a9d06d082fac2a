"""Streaming estimator: per-frame depth, odometry and intrinsics from an inference backend."""

from ss3d_core.estimator.estimator import MIN_TWIST_DT_S, Estimator, EstimatorConfig, build_estimator
from ss3d_core.estimator.frame_estimate import FrameEstimate, IntrinsicsSource, ResetReason

__all__ = [
    "MIN_TWIST_DT_S", "Estimator", "EstimatorConfig", "build_estimator", "FrameEstimate", "IntrinsicsSource",
    "ResetReason",
]
