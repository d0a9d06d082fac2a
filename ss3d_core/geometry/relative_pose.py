"""Relative pose of two calibrated views from matched pixels: five-point RANSAC essential matrix and cheirality.

Nistér 2004 five-point solver inside OpenCV's USAC framework (:data:`ROBUST_METHOD`), then ``cv2.recoverPose``.
Convention: ``cv2.recoverPose`` returns ``R, t`` with ``x_2 = R x_1 + t`` for points ``x_1`` in the first camera and
``x_2`` in the second, i.e. ``T_cur_prev = [R | t]`` when the first image is the previous frame. This module returns
``T_prev_cur = inv(T_cur_prev)`` (current-camera points into the previous camera), the estimator's convention, with a
unit-norm translation (scale unobservable). A pair that yields too few matches or inliers is a *failure* (returned,
never raised). :func:`relative_pose_from_depth` solves the same motion when the previous view's depth is known (PnP),
with the translation in the depth's unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ss3d_core.pose import invert_pose

__all__ = [
    "CHEIRALITY_MAX_DEPTH_BASELINES",
    "MIN_INLIERS",
    "MIN_MATCHES",
    "PNP_MIN_INLIER_SHARE",
    "RANSAC_CONFIDENCE",
    "RANSAC_THRESHOLD_PX",
    "ROBUST_METHOD",
    "FivePointResult",
    "backproject_pixels",
    "relative_pose_from_depth",
    "relative_pose_from_matches",
]

# Fewest tentative matches for RANSAC: the 8-point count, so that a 5-point minimal sample has redundancy.
MIN_MATCHES = 8
# Fewest cheirality-consistent inliers accepted from recoverPose (the minimal 5-point sample).
MIN_INLIERS = 5
# cv2.recoverPose's own default: a triangulated point farther than this many baselines counts as "at infinity" and
# is not a cheirality-consistent inlier (its sign is unreliable). A forward-moving camera sees mostly such points.
CHEIRALITY_MAX_DEPTH_BASELINES = 50.0
# Robust estimator: OpenCV's USAC framework (Ivashechkin, Barath & Matas 2021) with the 5-point minimal solver and
# local optimisation. Plain cv2.RANSAC keeps the best *minimal* model without refinement and was measured here to
# return 0.3° / 1.5° errors on noise-free synthetic pairs (every point an inlier within 1 px); USAC_ACCURATE
# recovers them to < 0.01° at the same cost (~2 ms for 300 matches).
ROBUST_METHOD = cv2.USAC_ACCURATE
# RANSAC confidence and inlier threshold (pixels): OpenCV's findEssentialMat defaults.
RANSAC_CONFIDENCE = 0.999
RANSAC_THRESHOLD_PX = 1.0
# PnP RANSAC: OpenCV's default iteration count and the sample size its solvePnPRansac draws for solvers other than
# P3P/AP3P (5 points).
PNP_RANSAC_ITERATIONS = 100
PNP_SAMPLE_SIZE = 5
# Least inlier share at which PNP_RANSAC_ITERATIONS samples reach RANSAC_CONFIDENCE of drawing one all-inlier sample
# (Fischler & Bolles 1981: 1 - (1 - w^s)^N >= p): ~0.58. Below it the best model found is not trusted.
PNP_MIN_INLIER_SHARE = (1.0 - (1.0 - RANSAC_CONFIDENCE) ** (1.0 / PNP_RANSAC_ITERATIONS)) ** (1.0 / PNP_SAMPLE_SIZE)


@dataclass(frozen=True)
class FivePointResult:
    """Outcome for one pair.

    Attributes:
        T_prev_cur: ``4×4`` float64 motion (unit translation), or ``None`` on failure.
        n_matches: tentative matches after the ratio test.
        n_inliers: cheirality-consistent RANSAC inliers.
        failure: ``None`` on success, else ``too_few_matches``, ``essential_matrix_failed`` or ``too_few_inliers``.
        E: ``3×3`` float64 essential matrix of the robust fit (``x̂_curᵀ E x̂_prev = 0`` in normalised coordinates),
            or ``None`` when none was found; set also when ``recoverPose`` then found too few inliers.
        inliers: ``M`` bool, the cheirality-consistent inliers (``None`` without ``E``).
        points_prev: ``M×3`` float64 matches triangulated by ``cv2.recoverPose`` in the previous camera, in units of
            the (unit) baseline; meaningful where ``inliers`` (``None`` without ``E``).
    """

    T_prev_cur: np.ndarray | None
    n_matches: int
    n_inliers: int
    failure: str | None = None
    E: np.ndarray | None = None
    inliers: np.ndarray | None = None
    points_prev: np.ndarray | None = None


def relative_pose_from_matches(
    pts_prev: np.ndarray,
    pts_cur: np.ndarray,
    K: np.ndarray,
    distortion: tuple[float, ...] | np.ndarray | None = None,
    max_depth_baselines: float = CHEIRALITY_MAX_DEPTH_BASELINES,
    method: int = ROBUST_METHOD,
) -> FivePointResult:
    """5-point RANSAC essential matrix and cheirality check on matched pixels.

    Args:
        pts_prev, pts_cur: ``M×2`` matched pixel positions in the previous / current image.
        K: ``3×3`` pixel intrinsics of both images.
        distortion: plumb_bob ``[k1, k2, t1, t2, k3]``; when given, points are undistorted to ideal pixels of ``K``
            before the estimation.
        max_depth_baselines: RANSAC inliers triangulated farther than this (in baselines) are not counted as
            cheirality-consistent (``cv2.recoverPose``'s ``distanceThresh``; its default 50 here).
        method: OpenCV robust estimator of ``cv2.findEssentialMat`` (default :data:`ROBUST_METHOD`; any USAC flag).

    Returns:
        :class:`FivePointResult` (``T_prev_cur`` with unit translation, see the module docstring).
    """
    n = len(pts_prev)
    if n < MIN_MATCHES:
        return FivePointResult(None, n, 0, "too_few_matches")
    K = np.asarray(K, dtype=np.float64)
    p1 = np.asarray(pts_prev, dtype=np.float64).reshape(-1, 1, 2)
    p2 = np.asarray(pts_cur, dtype=np.float64).reshape(-1, 1, 2)
    if distortion is not None and len(distortion) and np.any(np.asarray(distortion) != 0):
        dist = np.asarray(distortion, dtype=np.float64)
        p1 = cv2.undistortPoints(p1, K, dist, P=K)
        p2 = cv2.undistortPoints(p2, K, dist, P=K)
    try:
        E, mask = cv2.findEssentialMat(p1, p2, K, method=method, prob=RANSAC_CONFIDENCE, threshold=RANSAC_THRESHOLD_PX)
    except cv2.error:  # USAC asserts on some degenerate sample sets (e.g. every point identical)
        E = None
    if E is None or E.shape[0] < 3 or E.shape[1] != 3:
        return FivePointResult(None, n, 0, "essential_matrix_failed")
    # findEssentialMat may stack several solutions (3k×3); the first is the one with most RANSAC support.
    E = E[:3].astype(np.float64)
    n_inliers, R, t, mask, points_h = cv2.recoverPose(E, p1, p2, K, distanceThresh=max_depth_baselines, mask=mask)
    inliers = mask.ravel() > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        points_prev = (points_h[:3] / points_h[3:]).T
    if n_inliers < MIN_INLIERS:
        return FivePointResult(None, n, int(n_inliers), "too_few_inliers", E, inliers, points_prev)
    T_cur_prev = np.eye(4)
    T_cur_prev[:3, :3] = R
    T_cur_prev[:3, 3] = t.ravel()
    return FivePointResult(invert_pose(T_cur_prev), n, int(n_inliers), None, E, inliers, points_prev)


def backproject_pixels(pts: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """3D points of pixels with known depth: ``X = depth · K⁻¹ [u, v, 1]ᵀ`` (pinhole, Hartley & Zisserman 2004 §6.1).

    Args:
        pts: ``M×2`` pixel positions; depth: ``M`` depth along +Z of the camera (any unit); K: ``3×3`` pixel
            intrinsics.

    Returns:
        ``M×3`` float64 points in the camera frame, in the depth's unit.
    """
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    rays = np.column_stack([pts, np.ones(len(pts))]) @ np.linalg.inv(np.asarray(K, np.float64)).T
    return rays * np.asarray(depth, np.float64).reshape(-1, 1)


def relative_pose_from_depth(
    pts_prev: np.ndarray, pts_cur: np.ndarray, depth_prev: np.ndarray, K: np.ndarray
) -> np.ndarray | None:
    """Motion from matched pixels whose depth in the previous camera is known: PnP (SQPnP, Terzakis & Lourakis 2020)
    inside RANSAC at :data:`RANSAC_THRESHOLD_PX`, the 2D-3D tracker of DF-VO (Zhan et al. 2021).

    Unlike the essential matrix, the depth fixes the structure, so a small baseline does not let rotation and
    translation trade for each other (the bas-relief ambiguity of two close views); the pose is only as good as the
    depth.

    Args:
        pts_prev, pts_cur: ``M×2`` matched pixels; depth_prev: ``M`` depth of ``pts_prev`` along +Z of the previous
            camera (any unit; entries that are not finite and positive are left out).
        K: ``3×3`` pixel intrinsics of both images.

    Returns:
        ``T_prev_cur`` (``4×4`` float64, translation in the depth's unit), or ``None`` with fewer than
        :data:`MIN_MATCHES` usable points, or when RANSAC's inliers are fewer than :data:`MIN_INLIERS` or than
        :data:`PNP_MIN_INLIER_SHARE` of the usable points (a depth that disagrees with the tracks).
    """
    depth_prev = np.asarray(depth_prev, np.float64)
    usable = np.isfinite(depth_prev) & (depth_prev > 0)
    if usable.sum() < MIN_MATCHES:
        return None
    K = np.asarray(K, dtype=np.float64)
    points = backproject_pixels(np.asarray(pts_prev, np.float64)[usable], depth_prev[usable], K)
    try:
        ok, rvec, tvec, inliers = cv2.solvePnPRansac(
            points, np.asarray(pts_cur, np.float64)[usable], K, None, reprojectionError=RANSAC_THRESHOLD_PX,
            confidence=RANSAC_CONFIDENCE, iterationsCount=PNP_RANSAC_ITERATIONS, flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:  # degenerate point sets
        return None
    if not ok or inliers is None or len(inliers) < max(MIN_INLIERS, PNP_MIN_INLIER_SHARE * usable.sum()):
        return None
    T_cur_prev = np.eye(4)
    T_cur_prev[:3, :3] = cv2.Rodrigues(rvec)[0]
    T_cur_prev[:3, 3] = tvec.ravel()
    return invert_pose(T_cur_prev)
