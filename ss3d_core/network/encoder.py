"""Shared per-frame image encoder: one pass per frame, features reused for the next pair when streaming."""

from __future__ import annotations

import torch
from torch import nn

from ss3d_core.network.config import INPUT_MEAN, INPUT_STD
from ss3d_core.network.layers import ConvBNAct, ResidualBlock


class Encoder(nn.Module):
    """ResNet-style encoder producing a 5-level feature pyramid.

    Input: ``B×3×H×W`` float32 RGB in ``[0, 1]`` (normalised internally, Monodepth2 constants).
    Output: list of 5 tensors at strides 2, 4, 8, 16, 32 with ``channels[i]`` channels each.
    """

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        c = channels
        self.stem = nn.Sequential(ConvBNAct(3, c[0], stride=2), ConvBNAct(c[0], c[0]))
        self.stages = nn.ModuleList(
            nn.Sequential(ResidualBlock(c[i - 1], c[i], stride=2), ResidualBlock(c[i], c[i])) for i in range(1, 5)
        )

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Encode ``B×3×H×W`` images (H, W multiples of 32) into the feature pyramid."""
        x = self.stem((image - INPUT_MEAN) / INPUT_STD)
        features = [x]
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
