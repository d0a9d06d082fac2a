"""Structural similarity (SSIM) on 3×3 windows, as the Monodepth2 photometric loss computes it.

SSIM (Wang et al. 2004, "Image Quality Assessment: From Error Visibility to Structural Similarity", eq. 13) of two
images ``x`` (a warped source) and ``y`` (the target), per pixel and channel::

    SSIM = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))

with the local means, variances and covariance taken over a 3×3 window of uniform weights after reflection padding
by one pixel: Monodepth2's ``SSIM`` layer (Godard et al. 2019, ``layers.py``: ``nn.ReflectionPad2d(1)`` then
``nn.AvgPool2d(3, 1)``). The 3×3 mean is computed as two separable sums of shifted slices, which is the same number
as the average pooling (to float rounding) and about twice as fast forward and backward on a CPU
(``benchmarks/training_throughput.py``, docs/performance.md of training).

The target's statistics do not depend on the network, so :class:`SSIMTarget` computes them once per batch, without
gradient, and every warped source of every scale reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["SSIM_C1", "SSIM_C2", "SSIMTarget", "box_mean_3x3", "ssim"]

# Stabilising constants C1 = (K1 L)², C2 = (K2 L)² with K1 = 0.01, K2 = 0.03 and dynamic range L = 1 (Wang et al.
# 2004, §III.C; Monodepth2 uses the same values).
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def box_mean_3x3(image: torch.Tensor) -> torch.Tensor:
    """Mean over each pixel's 3×3 neighbourhood, the border reflected (``ReflectionPad2d(1)`` + ``AvgPool2d(3, 1)``).

    Args:
        image: ``B×C×H×W`` float tensor, ``H, W >= 2`` (reflection padding needs two pixels).

    Returns:
        ``B×C×H×W`` tensor of the same dtype.
    """
    padded = F.pad(image, (1, 1, 1, 1), mode="reflect")
    rows = padded[..., :, :-2] + padded[..., :, 1:-1] + padded[..., :, 2:]
    return (rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]) / 9.0


@dataclass(frozen=True)
class SSIMTarget:
    """A target image with its 3×3 SSIM statistics, computed once (:meth:`of`) and shared by every comparison.

    Attributes:
        image: ``B×C×H×W`` float image in [0, 1], detached.
        mean: ``B×C×H×W`` local mean ``μy``.
        mean_squared: ``μy²``.
        variance: ``B×C×H×W`` local variance ``σy²``.
    """

    image: torch.Tensor
    mean: torch.Tensor
    mean_squared: torch.Tensor
    variance: torch.Tensor

    @classmethod
    def of(cls, image: torch.Tensor) -> SSIMTarget:
        """Statistics of ``image`` (``B×C×H×W`` float, ``H, W >= 2``), without gradient: the target is data (the
        stored ``image`` is detached too)."""
        image = image.detach()
        with torch.no_grad():
            mean = box_mean_3x3(image)
            mean_squared = mean * mean
            variance = box_mean_3x3(image * image) - mean_squared
        return cls(image, mean, mean_squared, variance)


def ssim(prediction: torch.Tensor, target: torch.Tensor | SSIMTarget) -> torch.Tensor:
    """Per-pixel, per-channel SSIM of ``prediction`` against ``target`` on 3×3 windows (module docstring).

    Args:
        prediction: ``B×C×H×W`` float image in [0, 1] (differentiable, e.g. a warped source).
        target: ``B×C×H×W`` float image in [0, 1], or its precomputed :class:`SSIMTarget` (no gradient flows into
            the target either way).

    Returns:
        ``B×C×H×W`` SSIM in [-1, 1] (1 for identical windows).

    Raises:
        ValueError: if the shapes differ.
    """
    stats = target if isinstance(target, SSIMTarget) else SSIMTarget.of(target)
    if prediction.shape != stats.image.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(stats.image.shape)} differ")
    mean = box_mean_3x3(prediction)
    mean_squared = mean * mean
    variance = box_mean_3x3(prediction * prediction) - mean_squared
    cross = mean * stats.mean
    covariance = box_mean_3x3(prediction * stats.image) - cross
    numerator = (2.0 * cross + SSIM_C1) * (2.0 * covariance + SSIM_C2)
    denominator = (mean_squared + stats.mean_squared + SSIM_C1) * (variance + stats.variance + SSIM_C2)
    return numerator / denominator
