"""Unified single-checkpoint evaluation (GUIDE §1, §4): one checkpoint scored on depth, ego-motion and intrinsics.

Pure, reusable metric functions live in :mod:`~ss3d_eval.depth_metrics`,
:mod:`~ss3d_eval.pose_metrics` and :mod:`~ss3d_eval.intrinsics_metrics` (``ss3d_replay`` scores
recorded node outputs with them); :mod:`~ss3d_eval.sequence_runner` runs the streaming estimator and the
baselines over one TUM-layout sequence; :mod:`~ss3d_eval.report` aggregates and writes JSON + Markdown;
:mod:`~ss3d_eval.cli` is the ``ss3d_eval`` command.
"""

from ss3d_eval.depth_metrics import DepthResult, aggregate_depth, depth_metrics, select_depth_cap
from ss3d_eval.intrinsics_metrics import aggregate_intrinsics, intrinsics_errors
from ss3d_eval.pose_metrics import (
    AteResult,
    RelativePoseError,
    aggregate_pose,
    ate_sim3,
    relative_motion,
    relative_pose_error,
    relative_pose_errors,
)

__all__ = [
    "DepthResult",
    "depth_metrics",
    "aggregate_depth",
    "select_depth_cap",
    "RelativePoseError",
    "AteResult",
    "relative_motion",
    "relative_pose_error",
    "relative_pose_errors",
    "aggregate_pose",
    "ate_sim3",
    "intrinsics_errors",
    "aggregate_intrinsics",
]
