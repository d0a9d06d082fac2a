"""The training sample and batch contracts, stated once (GUIDE §7: batch/output contracts as TypedDicts)."""

from __future__ import annotations

from typing import TypedDict

import torch


class TripletSample(TypedDict):
    """One item of :class:`training.datamodule.TripletDataset`.

    Keys:
        frames: ``3×3×H×W`` float32 RGB in [0, 1], ordered (previous, target, next).
        flows: ``2×2×H×W`` float32 observed optical flow of the target towards (previous, next), pixels.
        flow_valid: ``2×1×H×W`` float32 {0, 1} masks of trusted flow.
        clip: the clip's name.
    """

    frames: torch.Tensor
    flows: torch.Tensor
    flow_valid: torch.Tensor
    clip: str


class TripletBatch(TypedDict):
    """A collated batch of :class:`TripletSample` (``B`` samples).

    Keys:
        frames: ``B×3×3×H×W`` float32 RGB in [0, 1], ordered (previous, target, next).
        flows: ``B×2×2×H×W`` float32 flow of the target towards (previous, next), pixels.
        flow_valid: ``B×2×1×H×W`` float32 {0, 1}.
        clip: ``B`` clip names.
    """

    frames: torch.Tensor
    flows: torch.Tensor
    flow_valid: torch.Tensor
    clip: list[str]
