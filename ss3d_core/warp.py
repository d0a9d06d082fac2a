"""Inverse warping for view synthesis (training only; never part of a deployed graph).

A target pixel with depth ``D_t`` is lifted to 3D, moved into the source camera with ``T_source_target`` and
projected with ``K``; the source image is sampled there (Zhou et al. 2017, "Unsupervised Learning of Depth and
Ego-Motion from Video", eq. 2). Sampling uses bilinear ``grid_sample`` with ``align_corners=True``, which matches the
pixel-centre convention of :mod:`ss3d_core.camera`; pixel normalisation comes from kornia.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.geometry.conversions import normalize_pixel_coordinates

from ss3d_core.camera import backproject, project

__all__ = ["inverse_warp"]


def inverse_warp(
    image_source: torch.Tensor,
    depth_target: torch.Tensor,
    T_source_target: torch.Tensor,
    K: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthesise the target view from a source image.

    Args:
        image_source: ``B×C×H×W`` float source image.
        depth_target: ``B×1×H×W`` float depth of the target frame (> 0, any consistent unit).
        T_source_target: ``B×4×4`` pose mapping target-camera points into the source camera.
        K: ``B×3×3`` intrinsics in pixels at ``W×H`` (shared by both views).

    Returns:
        ``(warped, valid)``: ``B×C×H×W`` source image resampled on the target grid (border padding), and a
        ``B×1×H×W`` float mask, 1 where the point lies in front of the source camera and inside its image.
    """
    b, _, h, w = depth_target.shape
    if image_source.shape[-2:] != (h, w):
        raise ValueError(f"image {tuple(image_source.shape)} and depth {tuple(depth_target.shape)} sizes differ")
    points_target = backproject(depth_target, K).reshape(b, 3, h * w)
    points_source = T_source_target[:, :3, :3] @ points_target + T_source_target[:, :3, 3:]
    uv, z = project(points_source.reshape(b, 3, h, w), K)
    grid = normalize_pixel_coordinates(uv.permute(0, 2, 3, 1), h, w)  # B×H×W×2 in [-1, 1]
    warped = F.grid_sample(image_source, grid, mode="bilinear", padding_mode="border", align_corners=True)
    inside = (grid.abs() <= 1.0).all(dim=-1, keepdim=True).permute(0, 3, 1, 2)
    valid = (inside & (z > 0)).to(image_source.dtype)
    return warped, valid
