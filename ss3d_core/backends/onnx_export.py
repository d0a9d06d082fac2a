"""Export an :class:`SS3DNet` to two ONNX graphs (per-frame encoder, pair decoder) with static shapes, cached.

Static batch-1 shapes at the checkpoint's input size keep the graphs simple for ONNX Runtime and TensorRT. The
graphs are the ones of :mod:`ss3d_core.backends.graphs`; :func:`cached_onnx` keeps them in the keyed
:class:`~ss3d_core.backends.artifact_cache.ArtifactCache` (``<cache>/onnx/...``), where ``ss3d_export --format onnx``
also puts them.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from ss3d_core.backends.artifact_cache import ArtifactCache, ArtifactKey
from ss3d_core.backends.graphs import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    DecoderGraph,
    EncoderGraph,
    example_inputs,
    graph_key,
)
from ss3d_core.checkpoint import CheckpointMetadata
from ss3d_core.network import SS3DNet

LOG = logging.getLogger(__name__)
# ONNX opset (ONNX Runtime >= 1.16 and TensorRT 10 both support it).
ONNX_OPSET = 18
ONNX_FILES = ("encoder.onnx", "decoder.onnx")


def onnx_key(model: SS3DNet, metadata: CheckpointMetadata) -> ArtifactKey:
    """Cache key of the ONNX graphs of ``model`` (float32; portable across ONNX Runtime versions and devices)."""
    return graph_key("onnx", model, metadata, "fp32", {"opset": str(ONNX_OPSET)})


def export_onnx(model: SS3DNet, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for ``model`` into ``out_dir`` (float32, static shapes, eval-mode
    batch norm); ``model`` itself is not modified.

    Returns:
        ``(encoder_path, decoder_path)``.

    Raises:
        RuntimeError (or the exporter's own error types): if the export fails.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A copy: the exporter moves, and restores the training flag of, what it is given; the caller's model (which
    # another backend may be running) keeps its device and mode.
    model = copy.deepcopy(model).cpu().eval()
    image, features = example_inputs(model)
    jobs = (
        (ONNX_FILES[0], EncoderGraph(model), (image,), ENCODER_INPUTS, ENCODER_OUTPUTS),
        (ONNX_FILES[1], DecoderGraph(model), features, DECODER_INPUTS, DECODER_OUTPUTS),
    )
    for filename, graph, args, input_names, output_names in jobs:
        with warnings.catch_warnings():
            # Shape checks inside the network are constant for a static-shape export.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            # The TorchScript exporter (dynamo=False) exports this all-convolutional graph in ~3 s; the dynamo
            # exporter gives an equivalent graph in ~14 s (measured on a 2-core CPU), which every node start-up
            # with a new checkpoint would pay.
            torch.onnx.export(
                graph, args, str(out_dir / filename), input_names=list(input_names),
                output_names=list(output_names), opset_version=ONNX_OPSET, dynamo=False, do_constant_folding=True,
                training=torch.onnx.TrainingMode.EVAL,
            )
    return out_dir / ONNX_FILES[0], out_dir / ONNX_FILES[1]


def cached_onnx(
    model: SS3DNet,
    metadata: CheckpointMetadata,
    cache: ArtifactCache | None = None,
    log: Callable[[str], None] = LOG.info,
) -> tuple[Path, Path]:
    """``(encoder_path, decoder_path)`` from the cache, exported first on a miss (logged with the reason).

    Raises:
        RuntimeError (or the exporter's own error types): if an export is needed and fails.
    """
    cache = cache or ArtifactCache()
    folder, _ = cache.get_or_build(onnx_key(model, metadata), ONNX_FILES, lambda out: export_onnx(model, out), log)
    return folder / ONNX_FILES[0], folder / ONNX_FILES[1]
