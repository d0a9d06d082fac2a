"""The SfM teacher's labels of one training triplet, mapped through the sample's resize, crop and flip.

For a target frame ``t`` with sources ``t - 1`` and ``t + 1`` (:class:`training.fit.datamodule.TripletDataset`), a
clip's reconstruction (:class:`training.sfm.store.SfmLabels`) gives

- **intrinsics**: the clip's ``K`` normalised at its source size, which is also the normalised ``K`` of the frame
  resized to the training size, then mapped through the sample's pixel map ``A`` (crop-resize and/or flip,
  :func:`training.data.augmentation.augmented_intrinsics`), so that it is the K of the image the network sees;
- **poses**: ``T_prev_tgt`` and ``T_next_tgt`` (target camera -> source camera, the directions the module's
  ``T_source_target`` have) when both frames registered in the same shot segment; a flip mirrors the x axis of both
  cameras, ``T' = S T S`` with ``S = diag(-1, 1, 1, 1)``. Crops and resizes do not change a pose. The translation's
  direction is scored only when the baseline is at least :data:`MIN_BASELINE_DEPTH_RATIO` of the target's median
  point depth (below it the direction is noise in the SfM solution too);
- **sparse depth**: the target's points (seen in ≥ 3 views, :mod:`ss3d_core.sfm`) moved from source pixels to
  training pixels (``u' + 0.5 = (u + 0.5) · W / W_source``, the pixel-centre convention of :mod:`ss3d_core.camera`),
  through ``A``, rounded to the nearest pixel; the nearest point wins a pixel. Depth is along the optical axis, which
  neither a crop, a resize nor a flip changes, in the segment's arbitrary unit (the loss removes one scale per image).

Every key of :data:`SFM_KEYS` is present in every sample of a run with SfM labels (collation needs one set of keys),
with validity masks saying which labels exist.
"""

from __future__ import annotations

import numpy as np
import torch

from ss3d_core.camera import K_to_normalised
from training.data.augmentation import augmented_intrinsics
from training.sfm.store import SfmLabels

__all__ = ["MIN_BASELINE_DEPTH_RATIO", "SFM_KEYS", "triplet_labels"]

SFM_KEYS = ("sfm_intrinsics", "sfm_intrinsics_valid", "sfm_poses", "sfm_rotation_valid", "sfm_translation_valid",
            "sfm_depth", "sfm_depth_valid")
# Smallest baseline / median scene depth whose translation direction is a label: 0.5 % is a 0.3° parallax at the
# median depth, about the SfM solution's own rotation accuracy on 10 Hz pairs (0.02°) times ten.
MIN_BASELINE_DEPTH_RATIO = 0.005
_MIRROR_X = np.diag([-1.0, 1.0, 1.0, 1.0])


def _sparse_depth(points_uvz: np.ndarray, A: np.ndarray, source_size: tuple[int, int],
                  size: tuple[int, int]) -> np.ndarray:
    """``H×W`` float32 depth image (0: no point) of ``K×3`` ``(u, v, z)`` source-pixel points after the resize to
    ``size = (W, H)`` and the pixel map ``A``."""
    (source_w, source_h), (w, h) = source_size, size
    depth = np.zeros((h, w), np.float32)
    if len(points_uvz) == 0:
        return depth
    u = (points_uvz[:, 0].astype(np.float64) + 0.5) * w / source_w - 0.5
    v = (points_uvz[:, 1].astype(np.float64) + 0.5) * h / source_h - 0.5
    mapped = A @ np.stack([u, v, np.ones_like(u)])
    col, row = np.rint(mapped[0]).astype(np.int64), np.rint(mapped[1]).astype(np.int64)
    z = points_uvz[:, 2].astype(np.float32)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h) & (z > 0)
    order = np.argsort(-z[inside])  # farthest first, so that the nearest point of a pixel is written last
    depth[row[inside][order], col[inside][order]] = z[inside][order]
    return depth


def triplet_labels(labels: SfmLabels | None, t: int, A: np.ndarray, width: int, height: int) -> dict[str, torch.Tensor]:
    """The SfM labels (keys :data:`SFM_KEYS`) of the triplet ``(t - 1, t, t + 1)``.

    Args:
        labels: the clip's reconstruction, or ``None`` for a clip without usable SfM (every mask is then false).
        t: the target frame's index in the clip (the training cache's frame index).
        A: ``3×3`` float64 pixel map of the sample's augmentation at the training size (identity, a crop-resize
            and/or a flip; :mod:`training.data.augmentation`). A negative ``A[0, 0]`` is a flip.
        width, height: the training size in pixels.

    Returns:
        ``sfm_intrinsics`` ``4`` float32 normalised K (see :func:`ss3d_core.camera.K_to_normalised`) and
        ``sfm_intrinsics_valid`` bool scalar; ``sfm_poses`` ``2×4×4`` float32 ``(T_prev_tgt, T_next_tgt)`` with
        ``sfm_rotation_valid`` and ``sfm_translation_valid`` ``2`` bool; ``sfm_depth`` ``1×H×W`` float32 (0 where no
        point) and ``sfm_depth_valid`` ``1×H×W`` bool.
    """
    out = {
        "sfm_intrinsics": torch.zeros(4), "sfm_intrinsics_valid": torch.tensor(False),
        "sfm_poses": torch.eye(4).repeat(2, 1, 1), "sfm_rotation_valid": torch.zeros(2, dtype=torch.bool),
        "sfm_translation_valid": torch.zeros(2, dtype=torch.bool),
        "sfm_depth": torch.zeros(1, height, width), "sfm_depth_valid": torch.zeros(1, height, width, dtype=torch.bool),
    }
    if labels is None or not labels.registered[t]:
        return out
    K_norm = K_to_normalised(labels.K, labels.width, labels.height)
    out["sfm_intrinsics"] = torch.from_numpy(augmented_intrinsics(list(K_norm), A, width, height)).float()
    out["sfm_intrinsics_valid"] = torch.tensor(True)
    points = labels.points(t)
    depth = _sparse_depth(points, A, (labels.width, labels.height), (width, height))
    out["sfm_depth"] = torch.from_numpy(depth)[None]
    out["sfm_depth_valid"] = out["sfm_depth"] > 0
    median_depth = float(np.median(points[:, 2])) if len(points) else 0.0
    flipped = A[0, 0] < 0
    for i, source in enumerate((t - 1, t + 1)):
        T = labels.relative_pose(source, t)
        if T is None:
            continue
        if flipped:
            T = _MIRROR_X @ T @ _MIRROR_X
        out["sfm_poses"][i] = torch.from_numpy(T).float()
        out["sfm_rotation_valid"][i] = True
        baseline = float(np.linalg.norm(T[:3, 3]))
        out["sfm_translation_valid"][i] = median_depth > 0 and baseline >= MIN_BASELINE_DEPTH_RATIO * median_depth
    return out
