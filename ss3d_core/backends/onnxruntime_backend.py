"""ONNX Runtime backend (CPU execution provider)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ss3d_core.backends.base import BackendUnavailable, InferenceBackend, PairPrediction
from ss3d_core.backends.onnx_export import DECODER_INPUTS, EXPORT_FORMAT_VERSION, default_cache_dir, export_onnx
from ss3d_core.checkpoint import CheckpointMetadata
from ss3d_core.network import SS3DNet

LOG = logging.getLogger(__name__)


class OnnxRuntimeBackend(InferenceBackend):
    """Runs the exported encoder/decoder graphs with ONNX Runtime.

    Graphs are exported once per checkpoint into ``cache_dir/onnx/<weights sha256[:16]>-v<format>/`` and reused.

    Args:
        model: the loaded network (exported on first use).
        metadata: its checkpoint metadata (the weights hash keys the cache).
        num_threads: intra-op threads (``None``: ONNX Runtime's default).
        cache_dir: export cache root (default :func:`default_cache_dir`).

    Raises:
        BackendUnavailable: if onnxruntime is not installed or the export fails.
    """

    def __init__(
        self,
        model: SS3DNet,
        metadata: CheckpointMetadata,
        num_threads: int | None = None,
        cache_dir: str | Path | None = None,
    ):
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise BackendUnavailable("onnxruntime is not installed (pip install onnxruntime)") from err
        key = (metadata.weights_sha256 or "unhashed")[:16]
        folder = Path(cache_dir or default_cache_dir()) / "onnx" / f"{key}-v{EXPORT_FORMAT_VERSION}"
        encoder_path, decoder_path = folder / "encoder.onnx", folder / "decoder.onnx"
        if not (encoder_path.is_file() and decoder_path.is_file()) or key == "unhashed":
            LOG.info("exporting ONNX graphs to %s", folder)
            try:
                encoder_path, decoder_path = export_onnx(model, folder)
            except Exception as err:  # the exporter raises many types; all mean "no ONNX here"
                raise BackendUnavailable(f"ONNX export failed: {err}") from err
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        self.encoder = ort.InferenceSession(str(encoder_path), options, providers=providers)
        self.decoder = ort.InferenceSession(str(decoder_path), options, providers=providers)
        # The exporter drops graph inputs that the decoder never reads (fine pyramid levels of the previous frame).
        self._decoder_inputs = {i.name for i in self.decoder.get_inputs()}
        self.name = "onnxruntime-cpu"
        self.input_size = (model.config.input_width, model.config.input_height)
        self.graph_dir = folder

    def encode(self, image: np.ndarray) -> list[np.ndarray]:
        return self.encoder.run(None, {"image": np.ascontiguousarray(image, dtype=np.float32)})

    def decode(self, features_prev: list[np.ndarray], features_cur: list[np.ndarray]) -> PairPrediction:
        feeds = {
            name: value
            for name, value in zip(DECODER_INPUTS, list(features_prev) + list(features_cur))
            if name in self._decoder_inputs
        }
        depth, T_prev_cur, intrinsics_norm = self.decoder.run(None, feeds)
        return PairPrediction(
            depth=depth[0, 0].astype(np.float32, copy=False),
            T_prev_cur=T_prev_cur[0].astype(np.float64),
            intrinsics_norm=intrinsics_norm[0].astype(np.float64),
        )
