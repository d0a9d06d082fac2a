"""Fundamental matrix against homography for one image pair: robust fits and Torr's GRIC model selection.

A pair of views carries multi-view (parallax) signal only when its correspondences need a fundamental matrix ``F``
(general motion of a rigid scene with depth variation). When a homography ``H`` explains them as well, the camera
only rotated, stood still, or looked at a plane, and nothing can be triangulated. Torr's Geometric Robust Information
Criterion (P. H. S. Torr, "Geometric motion segmentation and model selection", Phil. Trans. R. Soc. A 356, 1998;
also Pollefeys et al. 2002 for key-frame selection) compares the two with a penalty for model dimension and
parameters::

    GRIC = Σ_i ρ(e_i² / σ²) + λ1 · d · n + λ2 · k,      ρ(x) = min(x, λ3 · (r - d))

with ``r = 4`` (two 2D points per correspondence), ``d`` the model manifold dimension (F: 3, H: 2), ``k`` the model
parameters (F: 7, H: 8), ``λ1 = ln r``, ``λ2 = ln(r n)``, ``λ3 = 2``. The lower GRIC wins. Residuals are first-order
geometric errors: the Sampson distance for ``F`` and the symmetric transfer distance for ``H`` (Hartley & Zisserman
2004, §4.2.2 and §11.4.3).

Both models are fitted with OpenCV's USAC MAGSAC++ (Barath et al. 2020) at :data:`RANSAC_THRESHOLD_PX`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "GRIC_LAMBDA3",
    "MIN_CORRESPONDENCES",
    "RANSAC_THRESHOLD_PX",
    "TwoViewModels",
    "compare_models",
    "sampson_distance_sq",
    "fit_fundamental",
    "fit_homography",
    "fit_two_view_models",
    "gric",
]

# Torr 1998: data dimension of a correspondence (x, y, x', y').
GRIC_DATA_DIM = 4
# Torr 1998: the robust cap of a residual's cost, in units of (r - d).
GRIC_LAMBDA3 = 2.0
# Manifold dimension and parameter count of the models (Torr 1998, table 1).
F_DIM, F_PARAMS = 3, 7
H_DIM, H_PARAMS = 2, 8
# Inlier threshold of both robust fits, pixels (OpenCV's findFundamentalMat default; the five-point baseline's too).
RANSAC_THRESHOLD_PX = 1.0
RANSAC_CONFIDENCE = 0.999
# Fewest correspondences for a fundamental matrix with redundancy (the 8-point count).
MIN_CORRESPONDENCES = 8
ROBUST_METHOD = cv2.USAC_MAGSAC


@dataclass(frozen=True)
class TwoViewModels:
    """Robust F and H fits of one pair and their GRIC comparison.

    Attributes:
        n: correspondences used.
        F: ``3×3`` float64 fundamental matrix (``x_bᵀ F x_a = 0``) or ``None`` when the fit failed.
        H: ``3×3`` float64 homography (``x_b ~ H x_a``) or ``None`` when the fit failed.
        f_inliers: ``n`` bool, correspondences within the threshold of ``F`` (all False without ``F``).
        h_residual_px: ``n`` float64 symmetric transfer distance under ``H`` in pixels (``inf`` without ``H``).
        gric_f, gric_h: GRIC of each model (``inf`` for a failed fit).
    """

    n: int
    F: np.ndarray | None
    H: np.ndarray | None
    f_inliers: np.ndarray
    h_residual_px: np.ndarray
    gric_f: float
    gric_h: float

    @property
    def gric_preference(self) -> float:
        """``(GRIC_H - GRIC_F) / n``: positive when the fundamental matrix is the better model (parallax present),
        in cost units per correspondence; 0 for no correspondences, ``-inf`` when ``F`` failed but ``H`` did not."""
        if self.n == 0 or (math.isinf(self.gric_f) and math.isinf(self.gric_h)):
            return 0.0
        return (self.gric_h - self.gric_f) / self.n


def gric(residual_sq_px2: np.ndarray, sigma_px: float, manifold_dim: int, n_params: int) -> float:
    """Torr's GRIC of one model (see the module docstring).

    Args:
        residual_sq_px2: ``n`` squared geometric residuals in pixels².
        sigma_px: standard deviation of the correspondence noise in pixels (> 0).
        manifold_dim: ``d`` (F: 3, H: 2).
        n_params: ``k`` (F: 7, H: 8).

    Raises:
        ValueError: if ``sigma_px <= 0``.
    """
    if sigma_px <= 0:
        raise ValueError(f"sigma_px must be > 0, got {sigma_px}")
    n = len(residual_sq_px2)
    r = GRIC_DATA_DIM
    cost = np.minimum(np.asarray(residual_sq_px2, np.float64) / sigma_px**2, GRIC_LAMBDA3 * (r - manifold_dim)).sum()
    return float(cost + math.log(r) * manifold_dim * n + math.log(r * max(n, 1)) * n_params)


def sampson_distance_sq(F: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Sampson distance (pixels², Hartley & Zisserman 2004, §11.4.3) of ``n×2`` correspondences ``a -> b``
    under ``F`` (``x_bᵀ F x_a = 0``); ``n`` float64."""
    ha = np.column_stack([a, np.ones(len(a))])
    hb = np.column_stack([b, np.ones(len(b))])
    Fa = ha @ F.T
    Ftb = hb @ F
    num = np.einsum("ij,ij->i", hb, Fa) ** 2
    den = Fa[:, 0] ** 2 + Fa[:, 1] ** 2 + Ftb[:, 0] ** 2 + Ftb[:, 1] ** 2
    return num / np.maximum(den, np.finfo(np.float64).tiny)


def _transfer_sq(H: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Symmetric transfer distance squared (pixels², mean of both directions) of ``a -> b`` under ``H``."""

    def project(M: np.ndarray, p: np.ndarray) -> np.ndarray:
        q = np.column_stack([p, np.ones(len(p))]) @ M.T
        return q[:, :2] / np.where(np.abs(q[:, 2:]) > 1e-12, q[:, 2:], 1e-12)

    try:
        H_inv = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full(len(a), np.inf)
    forward = ((project(H, a) - b) ** 2).sum(axis=1)
    backward = ((project(H_inv, b) - a) ** 2).sum(axis=1)
    return 0.5 * (forward + backward)


def _robust_fit(fit, *args, **kwargs) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Call an OpenCV robust fit; a degenerate sample set (USAC asserts on some, e.g. all points collinear) is a
    failed fit, never an exception."""
    try:
        return fit(*args, **kwargs)
    except cv2.error:
        return None, None


def fit_fundamental(
    pts_a: np.ndarray, pts_b: np.ndarray, method: int = ROBUST_METHOD
) -> tuple[np.ndarray | None, np.ndarray]:
    """Robust fundamental matrix of correspondences ``a -> b`` (``x_bᵀ F x_a = 0``).

    Args:
        pts_a, pts_b: ``n×2`` pixel positions.
        method: OpenCV robust estimator (default :data:`ROBUST_METHOD`).

    Returns:
        ``(F, inliers)``: ``3×3`` float64 (``None`` when the fit failed or ``n < MIN_CORRESPONDENCES``) and ``n`` bool
        inliers within :data:`RANSAC_THRESHOLD_PX` (all False without ``F``).
    """
    a = np.asarray(pts_a, np.float64).reshape(-1, 2)
    b = np.asarray(pts_b, np.float64).reshape(-1, 2)
    if len(a) < MIN_CORRESPONDENCES:
        return None, np.zeros(len(a), bool)
    F, mask = _robust_fit(cv2.findFundamentalMat, a, b, method, RANSAC_THRESHOLD_PX, RANSAC_CONFIDENCE)
    if F is None or F.shape[0] < 3:
        return None, np.zeros(len(a), bool)
    F = F[:3]
    inliers = sampson_distance_sq(F, a, b) < RANSAC_THRESHOLD_PX**2 if mask is None else mask.ravel().astype(bool)
    return F, inliers


def fit_homography(pts_a: np.ndarray, pts_b: np.ndarray) -> np.ndarray | None:
    """Robust homography ``x_b ~ H x_a`` of ``n×2`` pixel correspondences (:data:`ROBUST_METHOD` at
    :data:`RANSAC_THRESHOLD_PX`); ``3×3`` float64, or ``None`` when the fit failed or ``n < MIN_CORRESPONDENCES``."""
    a = np.asarray(pts_a, np.float64).reshape(-1, 2)
    b = np.asarray(pts_b, np.float64).reshape(-1, 2)
    if len(a) < MIN_CORRESPONDENCES:
        return None
    H, _ = _robust_fit(cv2.findHomography, a, b, ROBUST_METHOD, RANSAC_THRESHOLD_PX, confidence=RANSAC_CONFIDENCE)
    return H.astype(np.float64) if H is not None and H.shape == (3, 3) else None


def compare_models(
    pts_a: np.ndarray,
    pts_b: np.ndarray,
    F: np.ndarray | None,
    H: np.ndarray | None,
    sigma_px: float = RANSAC_THRESHOLD_PX,
    f_inliers: np.ndarray | None = None,
) -> TwoViewModels:
    """GRIC of given ``F`` and ``H`` (fitted by any means, e.g. ``F = K⁻ᵀ E K⁻¹`` from an essential matrix) on the
    ``n×2`` pixel correspondences ``a -> b``.

    Args:
        pts_a, pts_b: ``n×2`` matched pixel positions in image ``a`` and ``b``.
        F, H: ``3×3`` models (``x_bᵀ F x_a = 0``, ``x_b ~ H x_a``), ``None`` for a failed fit (GRIC ``inf``).
        sigma_px: correspondence noise for GRIC (pixels).
        f_inliers: ``n`` bool inliers of ``F`` from its fit; ``None``: Sampson distance within
            :data:`RANSAC_THRESHOLD_PX`.
    """
    a = np.asarray(pts_a, np.float64).reshape(-1, 2)
    b = np.asarray(pts_b, np.float64).reshape(-1, 2)
    n = len(a)
    h_sq = _transfer_sq(H, a, b) if H is not None else np.full(n, np.inf)
    gric_h = gric(h_sq, sigma_px, H_DIM, H_PARAMS) if H is not None and n else math.inf
    if F is None or not n:
        return TwoViewModels(n, None, H, np.zeros(n, bool), np.sqrt(h_sq), math.inf, gric_h)
    f_sq = sampson_distance_sq(F, a, b)
    inliers = f_sq < RANSAC_THRESHOLD_PX**2 if f_inliers is None else np.asarray(f_inliers, bool)
    return TwoViewModels(n, F, H, inliers, np.sqrt(h_sq), gric(f_sq, sigma_px, F_DIM, F_PARAMS), gric_h)


def fit_two_view_models(pts_a: np.ndarray, pts_b: np.ndarray, sigma_px: float = RANSAC_THRESHOLD_PX) -> TwoViewModels:
    """Fit ``F`` and ``H`` to correspondences and score both with GRIC (:func:`compare_models`).

    Args:
        pts_a, pts_b: ``n×2`` matched pixel positions in image ``a`` and ``b``.
        sigma_px: correspondence noise for GRIC (pixels; default the RANSAC threshold).

    Returns:
        :class:`TwoViewModels`; with fewer than :data:`MIN_CORRESPONDENCES` both fits are failures.
    """
    a = np.asarray(pts_a, np.float64).reshape(-1, 2)
    b = np.asarray(pts_b, np.float64).reshape(-1, 2)
    n = len(a)
    if n < MIN_CORRESPONDENCES:
        return TwoViewModels(n, None, None, np.zeros(n, bool), np.full(n, np.inf), math.inf, math.inf)
    F, f_inliers = fit_fundamental(a, b)
    return compare_models(a, b, F, fit_homography(a, b), sigma_px, f_inliers if F is not None else None)
