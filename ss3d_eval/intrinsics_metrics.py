"""Intrinsics metrics: relative error of fx, fy, cx, cy against a calibration (GUIDE §4).

Both matrices are compared at one resolution. This module scales the *estimate* to the calibration's resolution
with :func:`ss3d_core.camera.scale_K` (pixel-centre convention), so errors are relative to the calibrated pixel
values a user knows. Relative focal errors do not depend on that choice; principal-point errors differ only by the
half-pixel term of the pixel-centre convention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ss3d_core.camera import scale_K

__all__ = ["INTRINSICS_KEYS", "intrinsics_errors", "aggregate_intrinsics"]

INTRINSICS_KEYS = ("fx", "fy", "cx", "cy")
_ENTRIES = {"fx": (0, 0), "fy": (1, 1), "cx": (0, 2), "cy": (1, 2)}


def _check_K(name: str, K: np.ndarray) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)):
        raise ValueError(f"{name} must be a finite 3×3 matrix, got shape {K.shape}")
    return K


def intrinsics_errors(
    K_est: np.ndarray,
    est_size: tuple[int, int],
    K_gt: np.ndarray,
    gt_size: tuple[int, int],
) -> dict[str, float]:
    """Relative errors ``|est - gt| / gt`` of fx, fy, cx, cy, both expressed at ``gt_size``.

    Args:
        K_est: ``3×3`` estimated intrinsics in pixels at ``est_size`` (e.g. the estimator's K at the depth size).
        est_size: ``(width, height)`` that ``K_est`` describes, pixels.
        K_gt: ``3×3`` calibrated intrinsics in pixels at ``gt_size``.
        gt_size: ``(width, height)`` of the calibration, pixels.

    Returns:
        ``{fx_rel_err, fy_rel_err, cx_rel_err, cy_rel_err}`` (dimensionless, >= 0) plus the estimate at
        ``gt_size`` as ``fx_est, fy_est, cx_est, cy_est`` (pixels).

    Raises:
        ValueError: on malformed matrices or a calibration with a zero entry.
    """
    K_gt = _check_K("K_gt", K_gt)
    K_at_gt = scale_K(_check_K("K_est", K_est), tuple(est_size), tuple(gt_size))
    out: dict[str, float] = {}
    for key, (r, c) in _ENTRIES.items():
        if K_gt[r, c] == 0:
            raise ValueError(f"calibrated {key} is 0: relative error undefined")
        out[f"{key}_rel_err"] = float(abs(K_at_gt[r, c] - K_gt[r, c]) / abs(K_gt[r, c]))
        out[f"{key}_est"] = float(K_at_gt[r, c])
    return out


def aggregate_intrinsics(results: Sequence[dict[str, float] | None]) -> dict[str, float | int | None]:
    """Mean relative error per parameter over sequences (``None`` entries skipped); ``n_sequences`` counts the rest."""
    scored = [r for r in results if r is not None]
    out: dict[str, float | int | None] = {
        f"{k}_rel_err": float(np.mean([r[f"{k}_rel_err"] for r in scored])) if scored else None
        for k in INTRINSICS_KEYS
    }
    out["n_sequences"] = len(scored)
    return out
