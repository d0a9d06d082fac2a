"""Rigid-flow supervision: the image motion induced by depth, pose and K against an observed optical flow.

Dense 2D flow as supervision for depth and ego-motion follows GeoNet (Yin & Shi 2018, "rigid flow") and DF-Net
(Zou et al. 2018, flow-depth consistency); Flow3r (2026) scales the idea up. Unlike the photometric loss, whose
gradient only sees a few pixels around each warp, a flow residual is a direct, dense geometric error.
"""

from __future__ import annotations

import torch

from ss3d_core.camera import backproject, pixel_grid, project

# Charbonnier smoothing (pixels): robust to the flow outliers of moving objects (Sun et al. 2014).
CHARBONNIER_EPS_PX = 0.5


def rigid_flow(depth_target: torch.Tensor, T_source_target: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pixel displacement of every target pixel into the source view under a static scene.

    Args:
        depth_target: ``B×1×H×W`` depth of the target frame (> 0).
        T_source_target: ``B×4×4`` pose mapping target-camera points into the source camera.
        K: ``B×3×3`` intrinsics in pixels at ``W×H``.

    Returns:
        ``B×2×H×W`` flow ``(u_source - u_target, v_source - v_target)`` in pixels.
    """
    b, _, h, w = depth_target.shape
    points = backproject(depth_target, K).reshape(b, 3, h * w)
    points = T_source_target[:, :3, :3] @ points + T_source_target[:, :3, 3:]
    uv_source, _ = project(points.reshape(b, 3, h, w), K)
    return uv_source - pixel_grid(h, w, K.device, K.dtype)[:2].reshape(1, 2, h, w)


def flow_consistency_loss(flow_pred: torch.Tensor, flow_observed: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean Charbonnier distance between predicted and observed flow over valid pixels, in units of image width.

    Args:
        flow_pred, flow_observed: ``B×2×H×W`` flows in pixels.
        valid: ``B×1×H×W`` float mask (1 = trusted observation, e.g. forward-backward consistent).

    Returns:
        Scalar tensor (0 when no pixel is valid).
    """
    width = flow_pred.shape[-1]
    residual = torch.sqrt(((flow_pred - flow_observed) ** 2).sum(dim=1, keepdim=True) + CHARBONNIER_EPS_PX**2)
    return (residual * valid).sum() / valid.sum().clamp(min=1.0) / width
