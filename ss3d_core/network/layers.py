"""Small building blocks: zero-padded 3×3 convolutions with BatchNorm (foldable for ONNX/TensorRT)."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNAct(nn.Sequential):
    """3×3 (or k×k) convolution, zero padding, BatchNorm, ELU/ReLU activation."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, kernel: int = 3, act: type[nn.Module] = nn.ReLU):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            act(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Basic ResNet block (He et al. 2016) with an optional strided projection shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = ConvBNAct(c_in, c_out, stride=stride)
        self.conv2 = nn.Sequential(
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                nn.BatchNorm2d(c_out),
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B×c_in×H×W`` -> ``B×c_out×H/stride×W/stride``."""
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))
