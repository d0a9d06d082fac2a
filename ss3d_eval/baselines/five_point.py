"""The five-point relative-pose baseline: SIFT + ratio test + 5-point RANSAC essential matrix + cheirality.

Composed from :mod:`ss3d_core.geometry.features` (SIFT, Lowe's ratio test) and
:mod:`ss3d_core.geometry.relative_pose` (USAC five-point essential matrix, ``cv2.recoverPose``; ``T_prev_cur`` with
unit translation). Two variants are scored by the evaluator: calibrated K (keypoints undistorted with the
calibration's plumb_bob coefficients when present) and the generic guess of :mod:`.default_k` (no distortion).
"""

from __future__ import annotations

import numpy as np

from ss3d_core.geometry.features import Features, extract_features, match_features
from ss3d_core.geometry.relative_pose import FivePointResult, relative_pose_from_matches

__all__ = [
    "Features",
    "FivePointResult",
    "extract_features",
    "match_features",
    "relative_pose_from_matches",
    "estimate_relative_pose",
]


def estimate_relative_pose(
    image_prev: np.ndarray,
    image_cur: np.ndarray,
    K: np.ndarray,
    distortion: tuple[float, ...] | np.ndarray | None = None,
) -> FivePointResult:
    """Convenience: :func:`extract_features` on both ``H×W×3`` uint8 RGB images, match, then
    :func:`relative_pose_from_matches`."""
    pts_prev, pts_cur = match_features(extract_features(image_prev), extract_features(image_cur))
    return relative_pose_from_matches(pts_prev, pts_cur, K, distortion)
