"""The two graphs every compiled backend runs: a per-frame encoder and a pair decoder, at a static input size.

Streaming inference encodes each frame once and decodes ``(previous, current)`` from cached pyramids, so ONNX and
TensorRT compile these two modules separately. The decoder has no ``grid_sample`` (warping is training-only).
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from ss3d_core.backends.artifact_cache import ArtifactKey
from ss3d_core.checkpoint import CheckpointMetadata
from ss3d_core.network import SS3DNet

# Bump when the graphs change (names, inputs, outputs, or what they compute for the same weights, e.g. v2: the
# antisymmetric motion head): it is part of every artefact key, so cached exports and engines are rebuilt.
GRAPH_FORMAT_VERSION = 2
PYRAMID_LEVELS = 5
ENCODER_INPUTS = ("image",)
ENCODER_OUTPUTS = tuple(f"feat{i}" for i in range(PYRAMID_LEVELS))
DECODER_INPUTS = tuple(f"prev_feat{i}" for i in range(PYRAMID_LEVELS)) + tuple(
    f"cur_feat{i}" for i in range(PYRAMID_LEVELS))
DECODER_OUTPUTS = ("depth", "T_prev_cur", "intrinsics_norm")


class EncoderGraph(nn.Module):
    """``1×3×H×W`` float RGB in [0, 1] -> the 5-level feature pyramid (strides 2..32) of :class:`SS3DNet`."""

    def __init__(self, net: SS3DNet):
        super().__init__()
        self.net = net
        self.eval()  # an inference graph: exporters restore this flag on the shared network afterwards

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.net.encoder(image))


class DecoderGraph(nn.Module):
    """10 pyramid levels (previous frame's 5, then the current frame's 5) ->
    ``(depth 1×1×H×W, T_prev_cur 1×4×4, intrinsics_norm 1×4)``, depth in network units.

    Args:
        net: the network.
        motion_dtype: when set, the pyramids are cast to this dtype before the pose/intrinsics head (whose weights
            must be in it) and all outputs are returned in it: a half-precision depth decoder with a float32 motion
            head (see :mod:`ss3d_core.backends.tensorrt_export`). ``None``: everything in the inputs' dtype.
    """

    def __init__(self, net: SS3DNet, motion_dtype: torch.dtype | None = None):
        super().__init__()
        self.net = net
        self.motion_dtype = motion_dtype
        self.eval()  # an inference graph: exporters restore this flag on the shared network afterwards

    def forward(self, *features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        prev, cur = list(features[:PYRAMID_LEVELS]), list(features[PYRAMID_LEVELS:])
        depth = 1.0 / self.net.predict_depth(cur)[0]
        if self.motion_dtype is not None:
            prev = [f.to(self.motion_dtype) for f in prev]
            cur = [f.to(self.motion_dtype) for f in cur]
            depth = depth.to(self.motion_dtype)
        T_prev_cur, intrinsics_norm = self.net.predict_motion(prev, cur)
        return depth, T_prev_cur, intrinsics_norm


def image_shape(model: SS3DNet) -> tuple[int, int, int, int]:
    """``(1, 3, H, W)``: the static image input of the graphs, at the model's configured input size."""
    return 1, 3, model.config.input_height, model.config.input_width


def example_inputs(
    model: SS3DNet, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """``(image, decoder_features)``: a random image of :func:`image_shape` and the 10 decoder inputs it gives.

    ``model`` must already be on ``device`` in ``dtype``; the tensors are too.
    """
    image = torch.rand(*image_shape(model), device=device, dtype=dtype)
    with torch.no_grad():
        features = tuple(model.encode(image))
    return image, features + features


def weights_sha256(model: SS3DNet, metadata: CheckpointMetadata) -> str:
    """The checkpoint's weights hash, or (for an unsaved model without one) a sha256 over its tensors in name order."""
    if metadata.weights_sha256:
        return metadata.weights_sha256
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def graph_key(kind: str, model: SS3DNet, metadata: CheckpointMetadata, precision: str,
              environment: dict[str, str]) -> ArtifactKey:
    """The cache key of ``kind`` artefacts compiled from these graphs: the weights, :func:`image_shape`,
    ``precision`` and ``environment`` plus :data:`GRAPH_FORMAT_VERSION`."""
    return ArtifactKey(kind=kind, weights_sha256=weights_sha256(model, metadata), input_shape=image_shape(model),
                       precision=precision, environment={"graph_format": str(GRAPH_FORMAT_VERSION), **environment})
