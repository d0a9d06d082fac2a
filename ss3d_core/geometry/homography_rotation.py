"""The rotation of a camera that only rotated, from the homography between its two images.

A camera rotating about its centre maps pixels by the infinite homography ``H = K R K⁻¹`` (Hartley & Zisserman 2004,
§8.4.2, result 8.13), with ``R = R_cur_prev`` taking points of the previous camera into the current one. Given a
robustly fitted ``H``, ``K⁻¹ H K`` is ``R`` up to scale and noise; its nearest rotation in the Frobenius norm is
``U diag(1, 1, det(U Vᵀ)) Vᵀ`` from its SVD (the orthogonal Procrustes solution, Schönemann 1966; the same projection
as :class:`ss3d_core.estimator.odometry.OdometryIntegrator`'s re-orthonormalisation).
"""

from __future__ import annotations

import numpy as np

__all__ = ["rotation_from_homography", "rotation_homography_residual_px"]


def rotation_from_homography(H: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``R_cur_prev`` (``3×3`` float64 in SO(3)) of a pure rotation whose homography is ``H`` (``x_cur ~ H x_prev``,
    pixels of one camera with intrinsics ``K``).

    Raises:
        ValueError: if ``H`` or ``K`` is not a finite, invertible ``3×3`` matrix.
    """
    H = np.asarray(H, np.float64)
    K = np.asarray(K, np.float64)
    if H.shape != (3, 3) or K.shape != (3, 3) or not (np.all(np.isfinite(H)) and np.all(np.isfinite(K))):
        raise ValueError(f"H and K must be finite 3×3 matrices, got {H.shape} and {K.shape}")
    if abs(np.linalg.det(K)) == 0 or abs(np.linalg.det(H)) == 0:
        raise ValueError("H and K must be invertible")
    M = np.linalg.inv(K) @ H @ K
    u, _, vt = np.linalg.svd(M * np.sign(np.linalg.det(M)))
    return u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt


def rotation_homography_residual_px(R_cur_prev: np.ndarray, K: np.ndarray, pts_prev: np.ndarray,
                                    pts_cur: np.ndarray) -> np.ndarray:
    """Per correspondence, how far (pixels) ``pts_cur`` lies from ``pts_prev`` moved by the rotation alone
    (``K R K⁻¹``): the parallax left after removing the rotation, which a translation would cause.

    Args:
        R_cur_prev: ``3×3`` rotation; K: ``3×3`` intrinsics in pixels.
        pts_prev, pts_cur: ``n×2`` matched pixels.

    Returns:
        ``n`` float64 distances in pixels (``inf`` for a point rotated behind the camera).
    """
    a = np.column_stack([np.asarray(pts_prev, np.float64).reshape(-1, 2), np.ones(len(pts_prev))])
    q = a @ (K @ R_cur_prev @ np.linalg.inv(K)).T
    valid = q[:, 2] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        projected = q[:, :2] / q[:, 2:]
    residual = np.linalg.norm(projected - np.asarray(pts_cur, np.float64).reshape(-1, 2), axis=1)
    return np.where(valid, residual, np.inf)
