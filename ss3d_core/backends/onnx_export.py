"""Export an :class:`SS3DNet` to two ONNX graphs (per-frame encoder, pair decoder) with static shapes.

Static batch-1 shapes at the checkpoint's input size keep the graphs simple for ONNX Runtime and TensorRT. The
decoder graph has no ``grid_sample``: warping is training-only.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ss3d_core.network import SS3DNet

# Bump when the exported graphs change (names, inputs, outputs, or what they compute for the same weights, e.g.
# v2: the antisymmetric motion head), to invalidate cached exports.
EXPORT_FORMAT_VERSION = 2
# ONNX opset (ONNX Runtime >= 1.16 and TensorRT 10 both support it).
ONNX_OPSET = 18
ENCODER_OUTPUTS = tuple(f"feat{i}" for i in range(5))
DECODER_INPUTS = tuple(f"prev_feat{i}" for i in range(5)) + tuple(f"cur_feat{i}" for i in range(5))
DECODER_OUTPUTS = ("depth", "T_prev_cur", "intrinsics_norm")


class _EncoderGraph(nn.Module):
    def __init__(self, net: SS3DNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.net.encoder(image))


class _DecoderGraph(nn.Module):
    def __init__(self, net: SS3DNet):
        super().__init__()
        self.net = net

    def forward(self, *features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        prev, cur = list(features[:5]), list(features[5:])
        disparity = self.net.predict_depth(cur)[0]
        T_prev_cur, intrinsics_norm = self.net.predict_motion(prev, cur)
        return 1.0 / disparity, T_prev_cur, intrinsics_norm


def default_cache_dir() -> Path:
    """``$SS3D_CACHE_DIR`` or ``$XDG_CACHE_HOME/ss3d_ros`` (``~/.cache/ss3d_ros``)."""
    if os.environ.get("SS3D_CACHE_DIR"):
        return Path(os.environ["SS3D_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ss3d_ros"


def export_onnx(model: SS3DNet, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for ``model`` into ``out_dir``.

    Returns:
        ``(encoder_path, decoder_path)``. Files are written to temporary names and renamed, so a concurrent
        reader never sees a half-written graph.

    Raises:
        RuntimeError: if the exporter fails.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    w, h = model.config.input_width, model.config.input_height
    image = torch.rand(1, 3, h, w)
    with torch.no_grad():
        features = tuple(model.encode(image))
    jobs = (
        ("encoder.onnx", _EncoderGraph(model), (image,), ("image",), ENCODER_OUTPUTS),
        ("decoder.onnx", _DecoderGraph(model), features + features, DECODER_INPUTS, DECODER_OUTPUTS),
    )
    paths = []
    for filename, graph, args, input_names, output_names in jobs:
        final = out_dir / filename
        tmp = out_dir / f".{filename}.{os.getpid()}.tmp"
        with warnings.catch_warnings():
            # Shape checks inside the network are constant for a static-shape export.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            # The TorchScript exporter (dynamo=False) exports this all-convolutional graph in ~3 s; the dynamo
            # exporter gives an equivalent graph in ~14 s (measured on a 2-core CPU), which every node start-up
            # with a new checkpoint would pay.
            torch.onnx.export(
                graph, args, str(tmp), input_names=list(input_names), output_names=list(output_names),
                opset_version=ONNX_OPSET, dynamo=False, do_constant_folding=True,
            )
        tmp.replace(final)
        paths.append(final)
    return paths[0], paths[1]
