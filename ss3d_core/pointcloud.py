"""Depth image -> 3D points in the camera optical frame (numpy, for point-cloud outputs)."""

from __future__ import annotations

import cv2
import numpy as np


def depth_to_points(
    depth: np.ndarray, K: np.ndarray, stride: int = 1, rgb: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Back-project every ``stride``-th pixel with a finite positive depth.

    ``X = d·(u - cx)/fx``, ``Y = d·(v - cy)/fy``, ``Z = d`` (pinhole model; REP 103 optical frame: x right, y down,
    z forward).

    Args:
        depth: ``H×W`` float depth along +Z (metres or the estimator's relative unit); NaN/<= 0 = invalid.
        K: ``3×3`` intrinsics in pixels at ``W×H``.
        stride: keep one pixel in ``stride`` along each axis (>= 1).
        rgb: optional ``h×w×3`` uint8 colours of the same view at any size (resized to ``W×H``).

    Returns:
        ``(points N×3 float32, colours N×3 uint8 or None)``.

    Raises:
        ValueError: on a non-2-D depth, a stride < 1 or a non-3×3 K.
    """
    if depth.ndim != 2:
        raise ValueError(f"depth must be H×W, got {depth.shape}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be 3×3, got {K.shape}")
    h, w = depth.shape
    v, u = np.mgrid[0:h:stride, 0:w:stride]
    d = depth[::stride, ::stride]
    valid = np.isfinite(d) & (d > 0)
    d, u, v = d[valid], u[valid], v[valid]
    points = np.empty((d.size, 3), dtype=np.float32)
    points[:, 0] = d * (u - K[0, 2]) / K[0, 0]
    points[:, 1] = d * (v - K[1, 2]) / K[1, 1]
    points[:, 2] = d
    colours = None
    if rgb is not None:
        if rgb.shape[:2] != (h, w):
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        colours = rgb[::stride, ::stride][valid]
    return points, colours
