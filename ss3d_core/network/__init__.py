"""The SS3D network: a shared encoder, a depth decoder and a pose/intrinsics head."""

from ss3d_core.network.config import SS3DNetConfig
from ss3d_core.network.ss3dnet import SS3DNet, SS3DOutput, sigmoid_to_depth

__all__ = ["SS3DNet", "SS3DNetConfig", "SS3DOutput", "sigmoid_to_depth"]
