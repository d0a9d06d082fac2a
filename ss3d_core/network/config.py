"""Architecture configuration of :class:`~ss3d_core.network.ss3dnet.SS3DNet` (stored in checkpoint metadata)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

# Depth range of the bounded sigmoid disparity, in the network's depth unit (Godard et al. 2019, Monodepth2).
MIN_DEPTH = 0.1
MAX_DEPTH = 100.0
# ImageNet-style input normalisation used by Monodepth2 (``(x - 0.45) / 0.225``), applied inside the network.
INPUT_MEAN = 0.45
INPUT_STD = 0.225


@dataclass(frozen=True)
class SS3DNetConfig:
    """Hyper-parameters that fix the tensor shapes of an SS3DNet.

    Attributes:
        encoder_channels: output channels of the 5 encoder stages (strides 2, 4, 8, 16, 32).
        decoder_channels: channels of the depth decoder at strides 1, 2, 4, 8, 16.
        motion_channels: width of the pose/intrinsics head.
        num_scales: number of disparity outputs (strides 1, 2, 4, 8), Monodepth2 multi-scale.
        min_depth, max_depth: depth range of the bounded sigmoid disparity (network depth unit).
        input_height, input_width: the image size the network was trained at (pixels, multiples of 32).
    """

    encoder_channels: tuple[int, ...] = (16, 32, 64, 96, 128)
    decoder_channels: tuple[int, ...] = (16, 24, 32, 48, 64)
    motion_channels: int = 128
    num_scales: int = 4
    min_depth: float = MIN_DEPTH
    max_depth: float = MAX_DEPTH
    input_height: int = 192
    input_width: int = 320

    def __post_init__(self) -> None:
        if len(self.encoder_channels) != 5 or len(self.decoder_channels) != 5:
            raise ValueError("encoder_channels and decoder_channels need 5 entries each")
        if not 1 <= self.num_scales <= 4:
            raise ValueError(f"num_scales must be in 1..4, got {self.num_scales}")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {self.min_depth}, {self.max_depth}")
        if self.input_height % 32 or self.input_width % 32:
            raise ValueError(f"input size must be a multiple of 32, got {self.input_width}×{self.input_height}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SS3DNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` (a different architecture)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown architecture keys {sorted(unknown)}; this checkpoint needs a newer ss3d_core")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
