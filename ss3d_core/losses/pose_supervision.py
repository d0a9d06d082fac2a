"""Supervision of a predicted relative pose by a reference pose (a teacher network or a classical SfM solution).

A monocular relative pose is known up to the scale of its translation, so the two terms compare what is defined:

- the rotation's geodesic distance ``∠(R_predᵀ R_ref)`` in radians (Hartley et al. 2013, "Rotation averaging",
  the angle of the relative rotation), computed as ``atan2(|sin|, cos)`` so that it is stable and differentiable near
  0 and π;
- the translation direction ``1 - cos ∠(t_pred, t_ref)``, over the pairs whose reference translation is long enough
  to have a direction.
"""

from __future__ import annotations

import torch

__all__ = ["MIN_TRANSLATION", "rotation_geodesic", "translation_direction_loss"]

# A reference translation shorter than this (in the network's depth units; its depth range is 0.1-100) is "no
# translation": its direction is noise, the term skips the pair unless the caller says which pairs to score.
MIN_TRANSLATION = 1e-4
# Keeps the square roots differentiable at 0.
_EPS = 1e-8


def rotation_geodesic(R_a: torch.Tensor, R_b: torch.Tensor) -> torch.Tensor:
    """``B`` angles (radians, in [0, π]) of the rotations ``R_aᵀ R_b`` between ``B×3×3`` rotation matrices, computed as
    ``atan2(|axis · sin|, cos)`` (stable near 0 and π, unlike ``acos`` of the trace)."""
    R = R_a.transpose(-1, -2) @ R_b
    cos = 0.5 * (R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0)
    skew = torch.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = 0.5 * (skew.pow(2).sum(-1) + _EPS).sqrt()
    return torch.atan2(sin, cos)


def translation_direction_loss(t_pred: torch.Tensor, t_ref: torch.Tensor,
                               valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``1 - cos`` of the angle between ``B×3`` translations over the scored pairs (0 when there is none).

    Args:
        t_pred: ``B×3`` predicted translations (any scale).
        t_ref: ``B×3`` reference translations (any scale).
        valid: ``B`` bool pairs to score; ``None`` scores those with ``|t_ref| >= MIN_TRANSLATION``.

    Returns:
        Scalar tensor in [0, 2].
    """
    keep = t_ref.norm(dim=-1) >= MIN_TRANSLATION if valid is None else valid
    if not keep.any():
        return t_pred.sum() * 0.0
    s, t = t_pred[keep], t_ref[keep]
    cos = (s * t).sum(-1) / ((s.pow(2).sum(-1) + _EPS).sqrt() * (t.pow(2).sum(-1) + _EPS).sqrt())
    return (1.0 - cos).mean()
