"""Sparse two-view correspondences: SIFT keypoints (Lowe 2004) and brute-force L2 matches with Lowe's ratio test.

The one home of feature detection and matching for the evaluator's five-point baseline, training's flow check and
labels, and the multi-view-signal proxy of the corpus stage. Pixel-centre convention: a keypoint at ``(u, v)`` lies
at the centre of pixel ``(u, v)`` (OpenCV's).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["LOWE_RATIO", "MAX_FEATURES", "Features", "extract_features", "match_features"]

# Lowe 2004 §7.1: reject a match whose nearest neighbour is not clearly closer than the second nearest.
LOWE_RATIO = 0.75
# Cap on SIFT keypoints per image: enough for a robust essential matrix, bounded time on 2 CPU cores.
MAX_FEATURES = 2000


@dataclass(frozen=True)
class Features:
    """SIFT features of one image: ``N×2`` float32 pixel positions (pixel-centre convention) and ``N×128`` float32
    descriptors (``N`` may be 0; descriptors then ``None``)."""

    points: np.ndarray
    descriptors: np.ndarray | None


def extract_features(image_rgb: np.ndarray, max_features: int = MAX_FEATURES) -> Features:
    """SIFT on the grey version of an ``H×W×3`` uint8 RGB (or ``H×W`` uint8 grey) image."""
    grey = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY) if image_rgb.ndim == 3 else image_rgb
    keypoints, descriptors = cv2.SIFT_create(nfeatures=max_features).detectAndCompute(grey, None)
    points = np.array([kp.pt for kp in keypoints], dtype=np.float32).reshape(-1, 2)
    return Features(points, descriptors if len(keypoints) else None)


def match_features(prev: Features, cur: Features, ratio: float = LOWE_RATIO) -> tuple[np.ndarray, np.ndarray]:
    """Lowe-ratio brute-force L2 matches; returns ``(pts_prev, pts_cur)``, both ``M×2`` float32 pixels."""
    empty = np.zeros((0, 2), np.float32)
    if prev.descriptors is None or cur.descriptors is None or len(prev.points) < 2 or len(cur.points) < 2:
        return empty, empty
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(prev.descriptors, cur.descriptors, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    if not good:
        return empty, empty
    return prev.points[[m.queryIdx for m in good]], cur.points[[m.trainIdx for m in good]]
