"""Dense two-view triangulation: the depth of every target pixel from its flow correspondence and a known motion.

For a target pixel with ray ``a = K⁻¹ [u, v, 1]ᵀ`` and its correspondence in the source image with ray
``b = K⁻¹ [u', v', 1]ᵀ``, the target depth ``d`` solves ``b × (d · R a + t) = 0`` in the least-squares sense (the
linear two-view triangulation of Hartley & Zisserman 2004, §12.2, reduced to the one unknown ``d`` because the first
camera's ray is fixed)::

    d = -((b × R a) · (b × t)) / |b × R a|²

The parallax angle between ``R a`` and ``b`` says how well ``d`` is determined: at zero parallax (a point at
infinity, or a pure rotation) the depth is undefined, and its relative error grows as flow error / parallax.
TrianFlow (Zhao et al. 2020, "Towards Better Generalization: Joint Depth-Pose Learning without PoseNet") supervises
monocular depth with exactly these triangulated depths, the pose coming from an essential matrix fitted to the flow.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ss3d_core.camera import pixel_grid

__all__ = ["TriangulatedDepth", "triangulate_flow"]


@dataclass(frozen=True)
class TriangulatedDepth:
    """Result of :func:`triangulate_flow`.

    Attributes:
        depth: ``B×1×H×W`` target-frame depth along +Z in the unit of the translation (0 where not ``valid``).
        parallax_rad: ``B×1×H×W`` angle between the two viewing rays, radians.
        valid: ``B×1×H×W`` bool: positive depth in both cameras and parallax of at least the requested minimum.
    """

    depth: torch.Tensor
    parallax_rad: torch.Tensor
    valid: torch.Tensor


def triangulate_flow(
    flow: torch.Tensor, T_source_target: torch.Tensor, K: torch.Tensor, min_parallax_rad: float
) -> TriangulatedDepth:
    """Triangulate every target pixel from its flow correspondence in the source image.

    Args:
        flow: ``B×2×H×W`` float flow from the target to the source frame in pixels
            (``u_source - u_target, v_source - v_target``).
        T_source_target: ``B×4×4`` pose mapping target-camera points into the source camera (REP 103 optical
            frames); the depth comes out in the unit of its translation.
        K: ``B×3×3`` intrinsics in pixels at ``W×H``, shared by both views.
        min_parallax_rad: pixels whose rays meet at a smaller angle are not ``valid``.

    Returns:
        :class:`TriangulatedDepth`.

    Raises:
        ValueError: if ``flow`` is not ``B×2×H×W`` or the pose / intrinsics batch does not match it.
    """
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be B×2×H×W, got {tuple(flow.shape)}")
    b, _, h, w = flow.shape
    if T_source_target.shape != (b, 4, 4) or K.shape != (b, 3, 3):
        raise ValueError(f"expected {b}×4×4 poses and {b}×3×3 K, got {tuple(T_source_target.shape)}, {tuple(K.shape)}")
    grid = pixel_grid(h, w, flow.device, flow.dtype)  # 3×HW
    K_inv = torch.linalg.inv(K)
    a = K_inv @ grid  # B×3×HW, target rays
    source_px = grid[:2].unsqueeze(0) + flow.reshape(b, 2, h * w)
    b_ray = K_inv @ torch.cat([source_px, torch.ones_like(source_px[:, :1])], dim=1)
    Ra = T_source_target[:, :3, :3] @ a
    t = T_source_target[:, :3, 3:].expand_as(Ra)
    b_x_Ra = torch.linalg.cross(b_ray, Ra, dim=1)
    b_x_t = torch.linalg.cross(b_ray, t, dim=1)
    denom = (b_x_Ra**2).sum(dim=1)
    depth = -(b_x_Ra * b_x_t).sum(dim=1) / denom.clamp(min=torch.finfo(flow.dtype).tiny)
    # Depth of the point in the source camera along b (cheirality in the second view).
    source_scale = (b_ray * (Ra * depth.unsqueeze(1) + t)).sum(dim=1)
    parallax = torch.atan2(denom.sqrt(), (b_ray * Ra).sum(dim=1))
    valid = (depth > 0) & (source_scale > 0) & (parallax >= min_parallax_rad) & (denom > 0)
    depth = torch.where(valid, depth, torch.zeros_like(depth))
    shape = (b, 1, h, w)
    return TriangulatedDepth(depth.reshape(shape), parallax.reshape(shape), valid.reshape(shape))
