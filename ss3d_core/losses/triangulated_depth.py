"""Scale-invariant supervision of predicted depth by triangulated depth (TrianFlow, Zhao et al. 2020).

A two-view triangulation fixes the depth of a pixel only up to the unknown length of the translation, so the
prediction is compared after removing one scale per image: with ``r = log d_pred - log d_tri`` over the labelled
pixels, the loss is ``mean |r - median(r)|``, the L1 analogue of the scale-invariant log error of Eigen et al. 2014
(the median is the L1-optimal shift, detached so that only the structure is supervised). Unlike the photometric and
rigid-flow terms, these labels do not move when the network's own pose is wrong: they come from a pose solved from
the flow itself.
"""

from __future__ import annotations

import torch

__all__ = ["MIN_LABELLED_PIXELS", "triangulated_depth_loss"]

# An image with fewer labelled pixels has too little structure for a per-image scale; it contributes nothing.
MIN_LABELLED_PIXELS = 64


def triangulated_depth_loss(depth_pred: torch.Tensor, depth_label: torch.Tensor, valid: torch.Tensor,
                            min_labelled_pixels: int = MIN_LABELLED_PIXELS) -> torch.Tensor:
    """Mean over images of the median-aligned L1 error of log depth on labelled pixels.

    Args:
        depth_pred: ``B×1×H×W`` predicted depth (> 0; any unit).
        depth_label: ``B×1×H×W`` triangulated depth (> 0 where ``valid``; any unit, one scale per image): two-view
            labels from flow, or the sparse multi-view points of the SfM teacher.
        valid: ``B×1×H×W`` bool mask of labelled pixels.
        min_labelled_pixels: images with fewer labelled pixels contribute nothing.

    Returns:
        Scalar tensor, dimensionless (log-depth units); 0 when no image has ``min_labelled_pixels`` labels.

    Raises:
        ValueError: if the three tensors do not share a ``B×1×H×W`` shape.
    """
    if depth_pred.ndim != 4 or depth_pred.shape[1] != 1:
        raise ValueError(f"depth must be B×1×H×W, got {tuple(depth_pred.shape)}")
    if depth_label.shape != depth_pred.shape or valid.shape != depth_pred.shape:
        raise ValueError(
            f"label {tuple(depth_label.shape)} / mask {tuple(valid.shape)} do not match depth {tuple(depth_pred.shape)}"
        )
    per_image = []
    for pred, label, mask in zip(depth_pred, depth_label, valid):
        if int(mask.sum()) < min_labelled_pixels:
            continue
        residual = torch.log(pred[mask]) - torch.log(label[mask])
        per_image.append((residual - residual.detach().median()).abs().mean())
    if not per_image:
        return depth_pred.sum() * 0.0
    return torch.stack(per_image).mean()
