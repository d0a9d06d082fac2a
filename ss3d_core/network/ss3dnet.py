"""SS3DNet: one feed-forward network predicting depth, ego-motion and intrinsics from a frame pair (SS3D, Hariat et
al. 2026)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ss3d_core.camera import K_from_normalised
from ss3d_core.network.config import SS3DNetConfig
from ss3d_core.network.depth_decoder import DepthDecoder
from ss3d_core.network.encoder import Encoder
from ss3d_core.network.motion_head import MotionHead


def sigmoid_to_depth(sigmoid: torch.Tensor, min_depth: float, max_depth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Map a sigmoid output to ``(disparity, depth)`` with depth bounded in ``[min_depth, max_depth]``.

    Monodepth2 ``disp_to_depth``: ``disparity = 1/max + (1/min - 1/max)·sigmoid``, ``depth = 1/disparity``.
    Both tensors keep the input shape (``B×1×H×W``), in inverse network depth units and network depth units.
    """
    min_disp, max_disp = 1.0 / max_depth, 1.0 / min_depth
    disparity = min_disp + (max_disp - min_disp) * sigmoid
    return disparity, 1.0 / disparity


class SS3DOutput(NamedTuple):
    """Result of one pair forward pass.

    Attributes:
        depth: ``B×1×H×W`` float32 depth of the current frame along +Z, network depth unit.
        disparities: multi-scale disparities (inverse depth), finest first, ``B×1×H/2^s×W/2^s``.
        T_prev_cur: ``B×4×4`` pose mapping points in the current camera frame into the previous one
            (``T_dst_src`` with ``dst = prev``, ``src = cur``).
        intrinsics_norm: ``B×4`` normalised intrinsics ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)``.
        K: ``B×3×3`` intrinsics in pixels at the input size ``W×H``.
    """

    depth: torch.Tensor
    disparities: list[torch.Tensor]
    T_prev_cur: torch.Tensor
    intrinsics_norm: torch.Tensor
    K: torch.Tensor


class SS3DNet(nn.Module):
    """Shared encoder + depth decoder + pose/intrinsics head.

    Streaming use encodes each frame once (:meth:`encode`) and runs :meth:`decode` on the cached pyramid of the
    previous frame and the new one. Training uses :meth:`predict_depth` and :meth:`predict_motion` separately.
    """

    def __init__(self, config: SS3DNetConfig | None = None):
        super().__init__()
        self.config = config or SS3DNetConfig()
        c = self.config
        self.encoder = Encoder(c.encoder_channels)
        self.depth_decoder = DepthDecoder(c.encoder_channels, c.decoder_channels, c.num_scales)
        self.motion_head = MotionHead(c.encoder_channels, c.motion_channels, c.input_width / c.input_height)

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``B×3×H×W`` float32 RGB in [0, 1] -> 5-level feature pyramid (strides 2..32)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be B×3×H×W, got {tuple(image.shape)}")
        if image.shape[2] % 32 or image.shape[3] % 32:
            raise ValueError(f"image height and width must be multiples of 32, got {tuple(image.shape[2:])}")
        return self.encoder(image)

    def predict_depth(self, features_cur: list[torch.Tensor]) -> list[torch.Tensor]:
        """Multi-scale disparities (inverse network depth units) of the frame whose pyramid is given."""
        sigmoids = self.depth_decoder(features_cur)
        return [sigmoid_to_depth(s, self.config.min_depth, self.config.max_depth)[0] for s in sigmoids]

    def predict_motion(
        self, features_other: list[torch.Tensor], features_cur: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T_other_cur B×4×4, intrinsics_norm B×4)`` for a pair of pyramids."""
        return self.motion_head(features_other, features_cur)

    def decode(self, features_prev: list[torch.Tensor], features_cur: list[torch.Tensor]) -> SS3DOutput:
        """Depth of the current frame, ``T_prev_cur`` and intrinsics from two cached pyramids."""
        disparities = self.predict_depth(features_cur)
        T_prev_cur, intrinsics_norm = self.predict_motion(features_prev, features_cur)
        h, w = features_cur[0].shape[2] * 2, features_cur[0].shape[3] * 2
        return SS3DOutput(
            depth=1.0 / disparities[0],
            disparities=disparities,
            T_prev_cur=T_prev_cur,
            intrinsics_norm=intrinsics_norm,
            K=K_from_normalised(intrinsics_norm, w, h),
        )

    def forward(self, image_prev: torch.Tensor, image_cur: torch.Tensor) -> SS3DOutput:
        """One forward pass over the pair ``(previous, current)``, both ``B×3×H×W`` float32 RGB in [0, 1]."""
        if image_prev.shape != image_cur.shape:
            raise ValueError(f"frame shapes differ: {tuple(image_prev.shape)} vs {tuple(image_cur.shape)}")
        features = self.encode(torch.cat([image_prev, image_cur], dim=0))
        b = image_cur.shape[0]
        return self.decode([f[:b] for f in features], [f[b:] for f in features])
