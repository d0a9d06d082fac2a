"""Which monocular cues a depth map follows: rank correlations with ground truth, image brightness and image row.

AbsRel says how far a depth map is from the truth, not why. A network trained on few clips can learn shortcuts such
as "bright is far" (the sky of driving and aerial footage) or "lower in the image is nearer" (a ground plane), which
hold in some scenes and fail in others (Dijk & de Croon 2019, "How Do Neural Networks See Depth in Single Images?",
showed KITTI-trained networks relying on the vertical position of objects). This module reports, on the scored
pixels of one image, the Spearman rank correlation of the predicted depth with the ground truth and with two cues,
next to the ground truth's own correlation with the same cues: a prediction whose brightness correlation has the
opposite sign of the ground truth's follows a shortcut that this scene does not obey.

Brightness is the grey value of the RGB image (OpenCV's BT.601 luma); the row is the pixel's image row (0 at the
top), so a negative row correlation means depth falls towards the image bottom. Rank correlations do not depend on
the prediction's scale, so no median scaling is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ss3d_eval.depth_metrics import resize_depth, valid_depth_mask
from ss3d_eval.statistics import spearman_or_none

__all__ = ["DepthCues", "depth_cues", "image_depth_cues"]

# Fewest scored pixels for a correlation: below this an image reports no cues.
MIN_CUE_PIXELS = 100


@dataclass(frozen=True)
class DepthCues:
    """Spearman rank correlations (dimensionless, in [-1, 1]; ``None`` when undefined, e.g. a constant map).

    Attributes:
        with_gt: depth against the ground-truth depth (``None`` for the ground truth itself).
        with_brightness: depth against the image's grey value.
        with_row: depth against the image row (0 at the top).
    """

    with_gt: float | None
    with_brightness: float | None
    with_row: float | None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def depth_cues(depth: np.ndarray, rgb: np.ndarray, mask: np.ndarray, gt_depth: np.ndarray | None = None) -> DepthCues:
    """Rank correlations of ``depth`` on the ``mask`` pixels.

    Args:
        depth: ``H×W`` depth (> 0 on ``mask``; any unit).
        rgb: ``H×W×3`` uint8 RGB image the depth belongs to.
        mask: ``H×W`` bool pixels to use.
        gt_depth: ``H×W`` ground-truth depth for ``with_gt`` (metres); ``None`` leaves ``with_gt`` undefined.

    Returns:
        :class:`DepthCues`; every field ``None`` when fewer than ``MIN_CUE_PIXELS`` pixels are masked in.

    Raises:
        ValueError: if the shapes do not agree.
    """
    if depth.ndim != 2 or rgb.shape[:2] != depth.shape or mask.shape != depth.shape or rgb.ndim != 3:
        raise ValueError(f"shapes disagree: depth {depth.shape}, rgb {rgb.shape}, mask {mask.shape}")
    if gt_depth is not None and gt_depth.shape != depth.shape:
        raise ValueError(f"ground truth {gt_depth.shape} does not match depth {depth.shape}")
    if int(mask.sum()) < MIN_CUE_PIXELS:
        return DepthCues(None, None, None)
    values = depth[mask]
    brightness = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[mask]
    rows = np.broadcast_to(np.arange(depth.shape[0])[:, None], depth.shape)[mask]
    return DepthCues(
        with_gt=None if gt_depth is None else spearman_or_none(values, gt_depth[mask]),
        with_brightness=spearman_or_none(values, brightness),
        with_row=spearman_or_none(values, rows),
    )


def image_depth_cues(
    pred_depth: np.ndarray, gt_depth_m: np.ndarray, rgb: np.ndarray, cap_m: float, min_m: float
) -> dict[str, dict[str, float | None]]:
    """Cues of a prediction and of the ground truth on the pixels the depth metrics score.

    Args:
        pred_depth: ``h×w`` predicted depth (any unit); resized to the ground truth as in
            :func:`ss3d_eval.depth_metrics.resize_depth`.
        gt_depth_m: ``H×W`` ground truth in metres (0/NaN invalid, REP 118).
        rgb: ``H×W×3`` uint8 RGB image (resized to the ground truth's size when it differs).
        cap_m, min_m: valid ground-truth range ``(min_m, cap_m]``, metres.

    Returns:
        ``{"model": ..., "ground_truth": ...}``, each :meth:`DepthCues.as_dict`.
    """
    pred = resize_depth(pred_depth, gt_depth_m.shape)
    if rgb.shape[:2] != gt_depth_m.shape:
        rgb = cv2.resize(rgb, gt_depth_m.shape[::-1], interpolation=cv2.INTER_AREA)
    with np.errstate(invalid="ignore"):
        mask = valid_depth_mask(gt_depth_m, cap_m, min_m) & np.isfinite(pred) & (pred > 0)
    return {
        "model": depth_cues(pred, rgb, mask, gt_depth_m).as_dict(),
        "ground_truth": depth_cues(gt_depth_m, rgb, mask).as_dict(),
    }
