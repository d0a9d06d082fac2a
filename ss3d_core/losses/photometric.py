"""Photometric reprojection error, per-pixel minimum over sources and auto-masking (Godard et al. 2019,
"Digging Into Self-Supervised Monocular Depth Estimation", §3.2-3.3)."""

from __future__ import annotations

import torch
from kornia.metrics import ssim

# Weight of the SSIM term against L1 (Godard et al. 2017, eq. 2; Monodepth2 keeps 0.85).
SSIM_WEIGHT = 0.85
# SSIM window (Monodepth2 uses a 3×3 window).
SSIM_WINDOW = 3
# Tie-breaking noise added to the identity reprojection error so that, on exact ties, the warped source wins
# (Monodepth2 trainer: ``torch.randn(...) * 0.00001``).
AUTOMASK_TIE_BREAK = 1e-5


def photometric_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM + L1 error per pixel.

    Args:
        prediction: ``B×3×H×W`` float image in [0, 1] (e.g. a warped source frame).
        target: ``B×3×H×W`` float image in [0, 1].

    Returns:
        ``B×1×H×W`` error ``α·(1 - SSIM)/2 + (1 - α)·|p - t|``, channel-averaged, ``α = SSIM_WEIGHT``.
    """
    l1 = (prediction - target).abs().mean(dim=1, keepdim=True)
    dssim = ((1.0 - ssim(prediction, target, SSIM_WINDOW)) / 2.0).clamp(0.0, 1.0).mean(dim=1, keepdim=True)
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
