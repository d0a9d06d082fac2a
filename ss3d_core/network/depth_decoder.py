"""U-Net depth decoder emitting a bounded sigmoid disparity at several scales (Godard et al. 2019, Monodepth2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ss3d_core.network.layers import ConvBNAct


class DepthDecoder(nn.Module):
    """Decode the encoder pyramid of the *current* frame into sigmoid disparity maps.

    Output ``i`` (``i = 0..num_scales-1``) is ``B×1×(H/2^i)×(W/2^i)`` in ``(0, 1)``; it becomes depth through
    :func:`ss3d_core.network.ss3dnet.sigmoid_to_depth`. Nearest-neighbour upsampling and zero padding keep the
    graph TensorRT-friendly.
    """

    def __init__(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...], num_scales: int):
        super().__init__()
        self.num_scales = num_scales
        enc, dec = encoder_channels, decoder_channels
        self.upconv_in = nn.ModuleList()
        self.upconv_out = nn.ModuleList()
        for level in range(4, -1, -1):
            c_in = enc[4] if level == 4 else dec[level + 1]
            self.upconv_in.append(ConvBNAct(c_in, dec[level], act=nn.ELU))
            skip = enc[level - 1] if level > 0 else 0
            self.upconv_out.append(ConvBNAct(dec[level] + skip, dec[level], act=nn.ELU))
        self.disp_heads = nn.ModuleList(nn.Conv2d(dec[s], 1, 3, padding=1) for s in range(num_scales))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Return ``num_scales`` sigmoid disparities, finest (full resolution) first."""
        x = features[4]
        outputs: dict[int, torch.Tensor] = {}
        for i, level in enumerate(range(4, -1, -1)):
            x = F.interpolate(self.upconv_in[i](x), scale_factor=2.0, mode="nearest")
            if level > 0:
                x = torch.cat([x, features[level - 1]], dim=1)
            x = self.upconv_out[i](x)
            if level < self.num_scales:
                outputs[level] = torch.sigmoid(self.disp_heads[level](x))
        return [outputs[s] for s in range(self.num_scales)]
