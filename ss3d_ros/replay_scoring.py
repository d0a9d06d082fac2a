"""Score outputs recorded from the running node against ground truth, with the metric code of ``ss3d_eval``.

The scoring and the ground-truth readers are ROS-free and live in :mod:`ss3d_core.evaluation.stream_scoring` and
:mod:`ss3d_core.io.ground_truth` (the fine-tuning report uses them without DDS); this module re-exports them under
their historical names.
"""

from __future__ import annotations

from ss3d_core.evaluation.stream_scoring import (
    MIN_GT_MATCH_FRACTION,
    match_warning,
    score_depth,
    score_pose,
)
from ss3d_core.io.ground_truth import (
    NS_PER_S,
    GroundTruthTrajectory,
    depth_from_bag,
    trajectory_from_bag,
    trajectory_from_tum_file,
)

__all__ = [
    "MIN_GT_MATCH_FRACTION",
    "NS_PER_S",
    "GroundTruthTrajectory",
    "depth_from_bag",
    "match_warning",
    "score_depth",
    "score_pose",
    "trajectory_from_bag",
    "trajectory_from_tum_file",
]
