"""Photometric reprojection error, per-pixel minimum over sources and auto-masking (Godard et al. 2019,
"Digging Into Self-Supervised Monocular Depth Estimation", §3.2-3.3)."""

from __future__ import annotations

import torch

from ss3d_core.losses.ssim import SSIMTarget, ssim

# Weight of the SSIM term against L1 (Godard et al. 2017, eq. 2; Monodepth2 keeps 0.85).
SSIM_WEIGHT = 0.85
# Tie-breaking noise added to the identity reprojection error so that, on exact ties, the warped source wins
# (Monodepth2 trainer: ``torch.randn(...) * 0.00001``).
AUTOMASK_TIE_BREAK = 1e-5


def photometric_error(prediction: torch.Tensor, target: torch.Tensor | SSIMTarget) -> torch.Tensor:
    """SSIM + L1 error per pixel.

    Args:
        prediction: ``B×3×H×W`` float image in [0, 1] (e.g. a warped source frame).
        target: ``B×3×H×W`` float image in [0, 1], or its :class:`~ss3d_core.losses.ssim.SSIMTarget` (the target's
            SSIM statistics computed once for every source and scale of a batch). The target is data: no gradient
            flows into it.

    Returns:
        ``B×1×H×W`` error ``α·(1 - SSIM)/2 + (1 - α)·|p - t|``, channel-averaged, ``α = SSIM_WEIGHT``; SSIM on 3×3
        windows (:func:`ss3d_core.losses.ssim.ssim`, Monodepth2's).
    """
    stats = target if isinstance(target, SSIMTarget) else SSIMTarget.of(target)
    l1 = (prediction - stats.image).abs().mean(dim=1, keepdim=True)
    dssim = ((1.0 - ssim(prediction, stats)) / 2.0).clamp(0.0, 1.0).mean(dim=1, keepdim=True)
    return SSIM_WEIGHT * dssim + (1.0 - SSIM_WEIGHT) * l1


def min_reprojection_with_automask(
    warped_errors: list[torch.Tensor],
    identity_errors: list[torch.Tensor] | None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel minimum reprojection error over source frames, with auto-masking of stationary pixels.

    Args:
        warped_errors: per source, ``B×1×H×W`` error of the warped source against the target.
        identity_errors: per source, ``B×1×H×W`` error of the *unwarped* source against the target, or ``None``
            to disable auto-masking.
        generator: optional RNG for the tie-breaking noise (tests pass a seeded one).

    Returns:
        ``(loss_map, automask)``: ``B×1×H×W`` minimum error and a float mask, 1 where a warped source explains the
        pixel better than any unwarped source (pixels moving with the camera, or static scenes, are 0).
    """
    warped = torch.cat(warped_errors, dim=1)
    min_warped, _ = warped.min(dim=1, keepdim=True)
    if identity_errors is None:
        return min_warped, torch.ones_like(min_warped)
    identity = torch.cat(identity_errors, dim=1)
    noise = torch.randn(identity.shape, generator=generator, device=identity.device, dtype=identity.dtype)
    min_identity, _ = (identity + noise * AUTOMASK_TIE_BREAK).min(dim=1, keepdim=True)
    automask = (min_warped < min_identity).to(min_warped.dtype)
    return min_warped * automask, automask
