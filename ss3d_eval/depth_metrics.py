"""Monocular depth metrics with per-image median scaling (the monodepth2 ``evaluate_depth.py`` protocol).

Protocol (Godard et al. 2019, monodepth2 ``evaluate_depth.py``; metrics from Eigen et al. 2014):

1. The prediction is resized to the ground-truth resolution. Like monodepth2 (which resizes the predicted
   *disparity*), the resize is done on inverse depth with bilinear interpolation, then inverted back.
2. Valid pixels: finite ground truth in ``(min_m, cap_m]`` and a finite positive prediction. Invalid GT (0 or NaN,
   REP 118) never counts.
3. Median scaling: ``ratio = median(gt) / median(pred)`` over the valid pixels; ``pred *= ratio`` (monocular depth
   is only known up to scale). The prediction is then clamped to ``[min_m, cap_m]``.
4. Errors over the valid pixels::

       abs_rel  = mean(|gt - pred| / gt)
       sq_rel   = mean((gt - pred)^2 / gt)
       rmse     = sqrt(mean((gt - pred)^2))                       [metres]
       rmse_log = sqrt(mean((ln gt - ln pred)^2))
       delta_k  = mean(max(gt / pred, pred / gt) < 1.25^k), k = 1, 2, 3

The spread ``std(ratios) / median(ratios)`` of the per-image ratios over a sequence measures scale consistency
(monodepth2 prints it as "Scaling ratios | med | std").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ss3d_eval.statistics import mean_or_none

__all__ = [
    "MIN_DEPTH_M",
    "OUTDOOR_DEPTH_CAP_M",
    "INDOOR_DEPTH_CAP_M",
    "DepthResult",
    "valid_depth_mask",
    "resize_depth",
    "scaled_prediction",
    "depth_metrics",
    "abs_rel_error_map",
    "aggregate_depth",
    "select_depth_cap",
]

# monodepth2 evaluate_depth.py MIN_DEPTH: smallest ground-truth depth that counts (metres).
MIN_DEPTH_M = 1e-3
# monodepth2 evaluate_depth.py MAX_DEPTH: the KITTI Eigen-split cap (Eigen et al. 2014), metres.
OUTDOOR_DEPTH_CAP_M = 80.0
# Indoor cap used for NYUv2-style evaluation (Eigen et al. 2014; GUIDE §4), metres.
INDOOR_DEPTH_CAP_M = 10.0
# Eigen et al. 2014 threshold accuracy base: delta_k counts pixels with max(gt/pred, pred/gt) < 1.25^k.
DELTA_THRESHOLD = 1.25
# Percentile of the valid ground-truth depth that decides indoor vs outdoor in select_depth_cap: a scene whose 99% of
# valid depth returns lie within the indoor cap is scored with the indoor cap (1% tolerates outliers/far windows).
INDOOR_DECISION_PERCENTILE = 99.0
# Calibration key that fixes the cap of one sequence (metres), read from calib.yaml by the runner.
CALIB_CAP_KEY = "depth_cap_m"

METRIC_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3")


@dataclass(frozen=True)
class DepthResult:
    """Depth errors of one image after median scaling.

    Attributes:
        abs_rel, sq_rel, rmse, rmse_log, delta1, delta2, delta3: see the module docstring (rmse and sq_rel in
            metres, the others dimensionless; deltas in [0, 1]).
        scale_ratio: ``median(gt) / median(pred)`` applied to the prediction (1.0 without median scaling).
        n_valid_px: number of pixels that were scored.
    """

    abs_rel: float
    sq_rel: float
    rmse: float
    rmse_log: float
    delta1: float
    delta2: float
    delta3: float
    scale_ratio: float
    n_valid_px: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain-dict form (JSON-ready)."""
        return asdict(self)


def _check_2d(name: str, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty H×W array, got shape {array.shape}")
    return array.astype(np.float64, copy=False)


def valid_depth_mask(gt_depth_m: np.ndarray, cap_m: float, min_m: float = MIN_DEPTH_M) -> np.ndarray:
    """Pixels whose ground truth counts: finite and in ``(min_m, cap_m]``.

    Args:
        gt_depth_m: ``H×W`` depth in metres; 0 or NaN mark invalid pixels (REP 118).
        cap_m: largest depth scored, metres.
        min_m: depths at or below this are invalid, metres.

    Returns:
        ``H×W`` bool mask.
    """
    gt = _check_2d("gt_depth_m", gt_depth_m)
    with np.errstate(invalid="ignore"):
        return np.isfinite(gt) & (gt > min_m) & (gt <= cap_m)


def resize_depth(pred_depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a depth map to ``shape = (H, W)`` by bilinear interpolation of inverse depth.

    monodepth2 resizes the predicted disparity, so the interpolation happens in inverse depth here as well.

    Args:
        pred_depth: ``h×w`` depth (any unit); non-finite or non-positive pixels are invalid.
        shape: target ``(H, W)`` in pixels.

    Returns:
        ``H×W`` float64 depth in the input unit; NaN where an invalid pixel took part in the interpolation.
    """
    pred = _check_2d("pred_depth", pred_depth)
    if pred.shape == tuple(shape):
        return pred.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        disparity = np.where(np.isfinite(pred) & (pred > 0), 1.0 / pred, np.nan)
    resized = cv2.resize(disparity, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(resized > 0, 1.0 / resized, np.nan)


def scaled_prediction(
    pred_depth: np.ndarray,
    gt_depth_m: np.ndarray,
    cap_m: float,
    min_m: float = MIN_DEPTH_M,
    median_scaling: bool = True,
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Steps 1-3 of the protocol: resize, mask, median-scale and clamp the prediction.

    Args:
        pred_depth: ``h×w`` predicted depth (relative unit, or metres without median scaling).
        gt_depth_m: ``H×W`` ground-truth depth in metres, 0/NaN invalid.
        cap_m, min_m: valid ground-truth range ``(min_m, cap_m]``, metres.
        median_scaling: apply ``median(gt) / median(pred)``.

    Returns:
        ``(pred_m, mask, ratio)``: ``H×W`` float64 scaled and clamped prediction in metres (NaN outside ``mask``),
        the ``H×W`` bool mask of scored pixels, and the ratio (``None`` when no pixel is valid).

    Raises:
        ValueError: on non-2-D inputs or a range with ``cap_m <= min_m``.
    """
    if not cap_m > min_m:
        raise ValueError(f"need cap_m > min_m, got cap_m={cap_m}, min_m={min_m}")
    gt = _check_2d("gt_depth_m", gt_depth_m)
    pred = resize_depth(pred_depth, gt.shape)
    with np.errstate(invalid="ignore"):
        mask = valid_depth_mask(gt, cap_m, min_m) & np.isfinite(pred) & (pred > 0)
    out = np.full(gt.shape, np.nan)
    if not mask.any():
        return out, mask, None
    ratio = float(np.median(gt[mask]) / np.median(pred[mask])) if median_scaling else 1.0
    out[mask] = np.clip(pred[mask] * ratio, min_m, cap_m)
    return out, mask, ratio


def depth_metrics(
    pred_depth: np.ndarray,
    gt_depth_m: np.ndarray,
    cap_m: float,
    min_m: float = MIN_DEPTH_M,
    median_scaling: bool = True,
) -> DepthResult | None:
    """Score one predicted depth map against ground truth (protocol in the module docstring).

    Args:
        pred_depth: ``h×w`` predicted depth along +Z (any resolution; relative unit when median scaling).
        gt_depth_m: ``H×W`` ground-truth depth, metres; 0 or NaN invalid.
        cap_m: largest ground-truth depth scored, metres (80 outdoor, 10 indoor: :func:`select_depth_cap`).
        min_m: smallest ground-truth depth scored (exclusive), metres.
        median_scaling: per-image median scaling (monocular); ``False`` scores metric predictions as they are.

    Returns:
        :class:`DepthResult`, or ``None`` when no pixel is valid (the caller counts the image as skipped).
    """
    pred_m, mask, ratio = scaled_prediction(pred_depth, gt_depth_m, cap_m, min_m, median_scaling)
    if ratio is None:
        return None
    gt = np.asarray(gt_depth_m, dtype=np.float64)[mask]
    pred = pred_m[mask]
    diff = gt - pred
    thresh = np.maximum(gt / pred, pred / gt)
    return DepthResult(
        abs_rel=float(np.mean(np.abs(diff) / gt)),
        sq_rel=float(np.mean(diff**2 / gt)),
        rmse=float(np.sqrt(np.mean(diff**2))),
        rmse_log=float(np.sqrt(np.mean((np.log(gt) - np.log(pred)) ** 2))),
        delta1=float(np.mean(thresh < DELTA_THRESHOLD)),
        delta2=float(np.mean(thresh < DELTA_THRESHOLD**2)),
        delta3=float(np.mean(thresh < DELTA_THRESHOLD**3)),
        scale_ratio=ratio,
        n_valid_px=int(mask.sum()),
    )


def abs_rel_error_map(pred_m: np.ndarray, gt_depth_m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-pixel ``|gt - pred| / gt`` (``H×W`` float64, NaN outside ``mask``) for figures; inputs from
    :func:`scaled_prediction`."""
    gt = np.asarray(gt_depth_m, dtype=np.float64)
    out = np.full(gt.shape, np.nan)
    out[mask] = np.abs(gt[mask] - pred_m[mask]) / gt[mask]
    return out


def aggregate_depth(results: Sequence[DepthResult | None]) -> dict[str, float | int | None]:
    """Mean of each metric over images, plus counts and the scale-ratio spread.

    Args:
        results: one entry per evaluated image; ``None`` for an image without any valid ground-truth pixel.

    Returns:
        ``{abs_rel, sq_rel, rmse, rmse_log, delta1, delta2, delta3}`` means (``None`` without data),
        ``n_images`` (scored), ``n_skipped_no_valid_gt``, ``scale_ratio_median`` and ``scale_ratio_spread``
        (``std / median`` of the per-image ratios; ``None`` with fewer than 2 images).
    """
    scored = [r for r in results if r is not None]
    out: dict[str, float | int | None] = {k: mean_or_none([getattr(r, k) for r in scored]) for k in METRIC_KEYS}
    ratios = np.array([r.scale_ratio for r in scored])
    out["n_images"] = len(scored)
    out["n_skipped_no_valid_gt"] = len(results) - len(scored)
    out["scale_ratio_median"] = float(np.median(ratios)) if ratios.size else None
    out["scale_ratio_spread"] = float(np.std(ratios) / np.median(ratios)) if ratios.size >= 2 else None
    return out


def select_depth_cap(
    gt_depth_samples: Sequence[np.ndarray],
    override_m: float | None = None,
    calib_cap_m: float | None = None,
    min_m: float = MIN_DEPTH_M,
) -> tuple[float, str]:
    """Decide the depth cap of one sequence, generically and overridably.

    Order: ``override_m`` (``--depth-cap-m``), else ``calib_cap_m`` (a ``depth_cap_m`` key in ``calib.yaml``), else
    the indoor cap (10 m) when the 99th percentile of the valid ground-truth depth is below it, else the outdoor cap
    (80 m; also when there is no valid ground truth at all).

    Args:
        gt_depth_samples: ground-truth depth maps of the sequence (metres, 0/NaN invalid), a subsample is enough.
        override_m, calib_cap_m: explicit caps in metres, or ``None``.
        min_m: smallest valid depth, metres.

    Returns:
        ``(cap_m, reason)`` where ``reason`` says which rule decided (for the report).

    Raises:
        ValueError: on an explicit cap that is not ``> min_m``.
    """
    for value, reason in ((override_m, "--depth-cap-m"), (calib_cap_m, f"calib.yaml {CALIB_CAP_KEY}")):
        if value is not None:
            if not float(value) > min_m:
                raise ValueError(f"depth cap from {reason} must be > {min_m} m, got {value}")
            return float(value), reason
    valid = [d[np.isfinite(d) & (d > min_m)] for d in map(np.asarray, gt_depth_samples)]
    pooled = np.concatenate(valid) if valid else np.zeros(0)
    if pooled.size == 0:
        return OUTDOOR_DEPTH_CAP_M, "no valid GT depth: outdoor default"
    p = float(np.percentile(pooled, INDOOR_DECISION_PERCENTILE))
    stat = f"GT depth p{INDOOR_DECISION_PERCENTILE:g} = {p:.2f} m"
    if p < INDOOR_DEPTH_CAP_M:
        return INDOOR_DEPTH_CAP_M, f"indoor: {stat} < {INDOOR_DEPTH_CAP_M:g} m"
    return OUTDOOR_DEPTH_CAP_M, f"outdoor: {stat} >= {INDOOR_DEPTH_CAP_M:g} m"
