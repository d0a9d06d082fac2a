"""Multi-scale self-supervised view-synthesis loss (Monodepth2 recipe) on one target frame and its sources."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ss3d_core.losses.photometric import min_reprojection_with_automask, photometric_error
from ss3d_core.losses.smoothness import edge_aware_smoothness
from ss3d_core.losses.ssim import SSIMTarget
from ss3d_core.warp import inverse_warp

# Disparity smoothness weight (Monodepth2 default ``--disparity_smoothness 1e-3``), divided by 2^scale.
SMOOTHNESS_WEIGHT = 1e-3


@dataclass(frozen=True)
class ViewSynthesisTerms:
    """Scalar loss terms of one batch (all averaged over scales)."""

    total: torch.Tensor
    photometric: torch.Tensor
    smoothness: torch.Tensor
    automask_fraction: torch.Tensor


def view_synthesis_loss(
    target: torch.Tensor,
    sources: list[torch.Tensor],
    disparities: list[torch.Tensor],
    T_source_target: list[torch.Tensor],
    K: torch.Tensor,
    automask: bool = True,
    smoothness_weight: float = SMOOTHNESS_WEIGHT,
    generator: torch.Generator | None = None,
    scales: int | None = None,
) -> ViewSynthesisTerms:
    """Photometric + smoothness loss over scales.

    Each scored disparity scale is upsampled to the input resolution before warping (Monodepth2 §3.3, "multi-scale
    estimation"), so every scale is scored on full-resolution images. The target's SSIM statistics and the
    auto-masking's identity errors (unwarped sources against the target) are computed once, without gradient, and
    shared by every scale.

    Args:
        target: ``B×3×H×W`` target frame in [0, 1].
        sources: source frames, each ``B×3×H×W``.
        disparities: multi-scale target disparities (inverse depth), finest first, ``B×1×H/2^s×W/2^s``.
        T_source_target: per source, ``B×4×4`` pose mapping target-camera points into that source camera.
        K: ``B×3×3`` pixel intrinsics at ``W×H``.
        automask: enable Monodepth2 auto-masking of stationary pixels.
        smoothness_weight: weight of the edge-aware smoothness term at scale 0.
        generator: optional RNG for the auto-mask tie-break noise.
        scales: score only the first (finest) this many ``disparities``; ``None`` scores all of them. Each scored
            scale costs a full-resolution warp and SSIM per source, the bulk of the loss's time on a CPU.

    Returns:
        :class:`ViewSynthesisTerms`.

    Raises:
        ValueError: no source, one pose per source missing, or ``scales`` outside ``1..len(disparities)``.
    """
    if len(sources) != len(T_source_target) or not sources:
        raise ValueError("need one pose per source frame and at least one source")
    scales = len(disparities) if scales is None else scales
    if not 1 <= scales <= len(disparities):
        raise ValueError(f"scales must be in 1..{len(disparities)}, got {scales}")
    h, w = target.shape[-2:]
    target_stats = SSIMTarget.of(target)
    identity = None
    if automask:
        with torch.no_grad():
            identity = [photometric_error(s, target_stats) for s in sources]
    photometric_terms, smooth_terms, mask_terms = [], [], []
    for scale, disparity in enumerate(disparities[:scales]):
        depth = 1.0 / F.interpolate(disparity, size=(h, w), mode="bilinear", align_corners=False)
        errors = []
        for source, T in zip(sources, T_source_target):
            warped, valid = inverse_warp(source, depth, T, K)
            # Pixels that leave the source image cannot be explained by it: give them the worst error.
            errors.append(photometric_error(warped, target_stats) * valid + (1.0 - valid))
        loss_map, mask = min_reprojection_with_automask(errors, identity, generator)
        photometric_terms.append(loss_map.mean())
        mask_terms.append(mask.mean())
        image_at_scale = F.interpolate(target, size=disparity.shape[-2:], mode="area")
        smooth_terms.append(edge_aware_smoothness(disparity, image_at_scale) / (2**scale))
    photometric = torch.stack(photometric_terms).mean()
    smoothness = torch.stack(smooth_terms).mean()
    return ViewSynthesisTerms(
        total=photometric + smoothness_weight * smoothness,
        photometric=photometric,
        smoothness=smoothness,
        automask_fraction=torch.stack(mask_terms).mean(),
    )
