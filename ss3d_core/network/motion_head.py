"""Pose + intrinsics head over a frame pair, valid by construction (Gordon et al. 2019, "Depth from Videos in the
Wild"; bounded principal point as in slowtv_monodepth's learned-K head)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ss3d_core.network.layers import ConvBNAct
from ss3d_core.pose import pose_from_axis_angle_translation

# Output scaling of the pose regressor, so that an untrained head predicts near-identity motion (Monodepth2).
POSE_SCALE = 0.01
# Focal-length prior at initialisation, normalised by width: fx = 0.8·W is about a 64° horizontal field of view,
# the generic guess used for web video without calibration (also the "guess K" baseline of the evaluator).
FOCAL_PRIOR_X_NORM = 0.8
# Principal point bound: (cx+0.5)/W and (cy+0.5)/H stay within ±PRINCIPAL_POINT_RANGE of the image centre.
PRINCIPAL_POINT_RANGE = 0.1
# Smallest normalised focal length the softplus can produce, so K stays invertible (a 180°-FOV limit is 0).
MIN_FOCAL_NORM = 0.05


def _softplus_inverse(y: float) -> float:
    return math.log(math.expm1(y))


class MotionHead(nn.Module):
    """Predict ``T_other_cur`` and normalised intrinsics from the encoder pyramids of two frames.

    Reads the pyramids of both frames from stride 4 to stride 32: the concatenated stride-4 features are reduced
    with strided convolutions and the concatenated features of each coarser level are fused in on the way, so that
    pixel-level displacements (small at 10 Hz) reach the regressor, not only the coarse semantics of stride 32.

    The head is antisymmetric by construction: the trunk reads the pair in both orders and the motion is half the
    difference of the two regressions, ``ξ(a, b) = ½ (g(a, b) − g(b, a))``, so that two identical frames give the
    identity pose exactly (a camera at rest does not drift) and swapping the frames negates the axis-angle and the
    translation (the exact inverse for the rotation; for the translation up to the second-order term
    ``(I − Rᵀ) t``). The intrinsics are the mean of both orders (symmetric). Reversibility of relative motion as a
    constraint on the pose network: cf. the forward-backward pose consistency of Shen et al. 2019 and
    Bian et al. 2019 (SC-SfMLearner); here it is built into the head instead of added as a loss.

    Outputs:
      * ``T_other_cur``: ``B×4×4`` pose mapping points of the current frame's camera into the other frame's camera,
        in the network's depth unit (axis-angle + translation, scaled by ``POSE_SCALE``);
      * ``intrinsics_norm``: ``B×4`` ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)``: focal lengths through a softplus
        (strictly positive, ``>= MIN_FOCAL_NORM``), principal point through a sigmoid bounded to
        ``0.5 ± PRINCIPAL_POINT_RANGE``.
    """

    def __init__(self, encoder_channels: tuple[int, ...], channels: int, aspect_w_over_h: float):
        super().__init__()
        c = encoder_channels
        half = channels // 2
        self.entry = ConvBNAct(2 * c[1], half, stride=2)  # stride 4 -> 8
        self.fuse8 = ConvBNAct(half + 2 * c[2], half, stride=2)  # 8 -> 16
        self.fuse16 = ConvBNAct(half + 2 * c[3], channels, stride=2)  # 16 -> 32
        self.fuse32 = nn.Sequential(ConvBNAct(channels + 2 * c[4], channels), ConvBNAct(channels, channels))
        self.pose = nn.Linear(channels, 6)
        self.intrinsics = nn.Linear(channels, 4)
        nn.init.zeros_(self.pose.weight)
        nn.init.zeros_(self.pose.bias)
        nn.init.normal_(self.intrinsics.weight, std=1e-3)
        # Square pixels at the network's aspect ratio for the fy prior.
        focal_y_prior = FOCAL_PRIOR_X_NORM * aspect_w_over_h
        with torch.no_grad():
            self.intrinsics.bias.copy_(
                torch.tensor(
                    [
                        _softplus_inverse(FOCAL_PRIOR_X_NORM - MIN_FOCAL_NORM),
                        _softplus_inverse(focal_y_prior - MIN_FOCAL_NORM),
                        0.0,
                        0.0,
                    ]
                )
            )

    def _trunk(self, first: list[torch.Tensor], second: list[torch.Tensor]) -> torch.Tensor:
        """``B×C`` pooled features of the ordered pair ``(first, second)``."""
        x = self.entry(torch.cat([first[1], second[1]], dim=1))
        x = self.fuse8(torch.cat([x, first[2], second[2]], dim=1))
        x = self.fuse16(torch.cat([x, first[3], second[3]], dim=1))
        x = self.fuse32(torch.cat([x, first[4], second[4]], dim=1))
        return x.mean(dim=(2, 3))

    def forward(
        self, features_other: list[torch.Tensor], features_cur: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(T_other_cur B×4×4, intrinsics_norm B×4)``."""
        b = features_cur[0].shape[0]
        # Both orders in one batched pass: rows [:b] read (other, cur), rows [b:] read (cur, other).
        x = self._trunk(
            [torch.cat([o, c]) for o, c in zip(features_other, features_cur)],
            [torch.cat([c, o]) for o, c in zip(features_other, features_cur)],
        )
        pose_both = self.pose(x)
        pose = 0.5 * (pose_both[:b] - pose_both[b:]) * POSE_SCALE
        T_other_cur = pose_from_axis_angle_translation(pose[:, :3], pose[:, 3:])
        raw_both = self.intrinsics(x)
        raw = 0.5 * (raw_both[:b] + raw_both[b:])
        focal = F.softplus(raw[:, :2]) + MIN_FOCAL_NORM
        principal = 0.5 + PRINCIPAL_POINT_RANGE * (2.0 * torch.sigmoid(raw[:, 2:]) - 1.0)
        return T_other_cur, torch.cat([focal, principal], dim=1)
