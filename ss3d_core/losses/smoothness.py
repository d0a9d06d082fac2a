"""Edge-aware smoothness on mean-normalised disparity (Godard et al. 2017 eq. 3; normalisation from Wang et al.
2018, as used by Monodepth2)."""

from __future__ import annotations

import torch


def edge_aware_smoothness(disparity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Mean of ``|∂x d*|·exp(-|∂x I|) + |∂y d*|·exp(-|∂y I|)`` with ``d* = d / mean(d)``.

    Args:
        disparity: ``B×1×H×W`` disparity (inverse depth), any positive unit.
        image: ``B×3×H×W`` float image in [0, 1] at the same size.

    Returns:
        Scalar tensor.
    """
    d = disparity / (disparity.mean(dim=(2, 3), keepdim=True) + 1e-7)
    grad_d_x = (d[:, :, :, :-1] - d[:, :, :, 1:]).abs()
    grad_d_y = (d[:, :, :-1, :] - d[:, :, 1:, :]).abs()
    grad_i_x = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(dim=1, keepdim=True)
    grad_i_y = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(dim=1, keepdim=True)
    return (grad_d_x * torch.exp(-grad_i_x)).mean() + (grad_d_y * torch.exp(-grad_i_y)).mean()
