"""Epipolar supervision of ego-motion and intrinsics from observed optical flow (no depth involved).

Every rigid-scene correspondence ``(p_target, p_source = p_target + flow)`` must lie on the epipolar line that the
relative pose and the intrinsics define: ``x_source^T F x_target = 0`` with ``F = K^-T [t]_x R K^-1``
(Hartley & Zisserman 2004, eq. 9.12 and §11.4.3 for the Sampson distance). Depth can move a pixel only along its
epipolar line, so the rigid-flow and photometric losses let a wrong pose be absorbed by a wrong depth; this term
scores the component of the flow that only ``R``, the direction of ``t`` and ``K`` can explain. Epipolar constraints
as a training signal for pose networks: Prasad & Bhowmick 2018 ("SfMLearner++"); Zhao et al. 2020 ("Towards Better
Generalization: Joint Depth-Pose Learning without PoseNet") solve the pose from the same constraint.
"""

from __future__ import annotations

import torch
from kornia.geometry.conversions import vector_to_skew_symmetric_matrix
from kornia.geometry.epipolar import fundamental_from_essential, sampson_epipolar_distance

from ss3d_core.camera import pixel_grid
from ss3d_core.losses.flow_consistency import CHARBONNIER_EPS_PX

# Below this translation norm (network depth units) the epipolar geometry is undefined; such pairs are skipped.
MIN_TRANSLATION_NORM = 1e-6


def fundamental_matrix(T_source_target: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``F`` with ``x_source^T F x_target = 0`` for pixel coordinates (Hartley & Zisserman eq. 9.12).

    Args:
        T_source_target: ``B×4×4`` pose mapping target-camera points into the source camera.
        K: ``B×3×3`` intrinsics in pixels, shared by both views.

    Returns:
        ``B×3×3`` float fundamental matrices built from the unit translation direction (``F`` is defined up to
        scale; a translation below ``MIN_TRANSLATION_NORM`` gives an all-zero, degenerate matrix).
    """
    t = T_source_target[:, :3, 3]
    t_unit = t / t.norm(dim=1, keepdim=True).clamp(min=MIN_TRANSLATION_NORM)
    E = vector_to_skew_symmetric_matrix(t_unit) @ T_source_target[:, :3, :3]
    return fundamental_from_essential(E, K, K)


def flow_sampson_distance(flow: torch.Tensor, F: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Sampson distance of every flow correspondence ``(p_target, p_target + flow)`` to ``F`` (H&Z §11.4.3).

    Args:
        flow: ``B×2×H×W`` flow from the target to the source frame in pixels.
        F: ``B×3×3`` fundamental matrices with ``x_source^T F x_target = 0``.
        squared: return the squared distance (pixels²) instead of the distance (pixels).

    Returns:
        ``B×(H·W)`` distances, row-major over the target image (NaN where ``F`` is all zero).
    """
    b, _, h, w = flow.shape
    target_px = pixel_grid(h, w, flow.device, flow.dtype)[:2].T.expand(b, -1, -1)  # B×HW×2
    source_px = target_px + flow.permute(0, 2, 3, 1).reshape(b, h * w, 2)
    return sampson_epipolar_distance(target_px, source_px, F, squared=squared)


def epipolar_flow_loss(
    flow_observed: torch.Tensor, valid: torch.Tensor, T_source_target: torch.Tensor, K: torch.Tensor
) -> torch.Tensor:
    """Mean Charbonnier Sampson distance of observed flow correspondences, in units of image width.

    Args:
        flow_observed: ``B×2×H×W`` float32 flow from the target frame to the source frame in pixels
            (``u_source - u_target, v_source - v_target``).
        valid: ``B×1×H×W`` float mask (1 = trusted correspondence, e.g. forward-backward consistent).
        T_source_target: ``B×4×4`` pose mapping target-camera points into the source camera.
        K: ``B×3×3`` intrinsics in pixels at ``W×H``.

    Returns:
        Scalar tensor; 0 when no pixel is valid. Pairs whose translation is below ``MIN_TRANSLATION_NORM`` (no
        epipolar geometry) contribute nothing. The value does not depend on the translation's length.

    Raises:
        ValueError: if the flow is not ``B×2×H×W`` or the mask does not match it.
    """
    if flow_observed.ndim != 4 or flow_observed.shape[1] != 2:
        raise ValueError(f"flow must be B×2×H×W, got {tuple(flow_observed.shape)}")
    b, _, h, w = flow_observed.shape
    if valid.shape != (b, 1, h, w):
        raise ValueError(f"valid mask {tuple(valid.shape)} does not match flow {tuple(flow_observed.shape)}")
    moving = T_source_target[:, :3, 3].norm(dim=1) >= MIN_TRANSLATION_NORM
    F = fundamental_matrix(T_source_target, K)
    # A degenerate F would give infinite distances (and NaN gradients); swap in a harmless matrix, weight it 0.
    F = torch.where(moving[:, None, None], F, vector_to_skew_symmetric_matrix(torch.ones_like(K[:, :, 0])))
    squared = flow_sampson_distance(flow_observed, F, squared=True)
    residual = torch.sqrt(squared + CHARBONNIER_EPS_PX**2)
    weights = valid.reshape(b, h * w) * moving[:, None].to(valid.dtype)
    return (residual * weights).sum() / weights.sum().clamp(min=1.0) / w
