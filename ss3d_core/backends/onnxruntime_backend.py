"""ONNX Runtime backend: CUDA execution provider where onnxruntime-gpu and a GPU are present, else CPU."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ss3d_core.backends.artifact_cache import ArtifactCache
from ss3d_core.backends.base import BackendOptions, BackendUnavailable, InferenceBackend, PairPrediction
from ss3d_core.backends.graphs import DECODER_INPUTS
from ss3d_core.backends.onnx_export import cached_onnx
from ss3d_core.checkpoint import CheckpointMetadata
from ss3d_core.network import SS3DNet

LOG = logging.getLogger(__name__)
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def session_options(num_threads: int | None):
    """ONNX Runtime session options for a small machine shared with the rest of the robot's software.

    ``num_threads`` intra-op threads (``None``: ONNX Runtime's default, one per physical core), one inter-op thread
    (the graphs are sequential), and no spin-waiting: ONNX Runtime's pool otherwise busy-waits after every run,
    which on 2 cores takes the CPU away from DDS, image conversion and publishing between frames.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxRuntimeBackend(InferenceBackend):
    """Runs the exported encoder/decoder graphs with ONNX Runtime.

    Graphs come from the keyed artefact cache (exported there on first use or by ``ss3d_export --format onnx``).

    Args:
        model: the loaded network (exported on a cache miss).
        metadata: its checkpoint metadata (the weights hash keys the cache).
        options: threads and cache folder (precision is ignored: the graphs are float32).

    Raises:
        BackendUnavailable: if onnxruntime is not installed or the export fails.
    """

    def __init__(self, model: SS3DNet, metadata: CheckpointMetadata, options: BackendOptions | None = None):
        options = options or BackendOptions()
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise BackendUnavailable("onnxruntime is not installed (pip install onnxruntime)") from err
        try:
            encoder_path, decoder_path = cached_onnx(model, metadata, ArtifactCache(options.cache_dir))
        except Exception as err:  # the exporter raises many types; all mean "no ONNX here"
            raise BackendUnavailable(f"ONNX export failed: {err}") from err
        providers = [CPU_PROVIDER]
        if CUDA_PROVIDER in ort.get_available_providers():
            providers.insert(0, CUDA_PROVIDER)
        session = session_options(options.num_threads)
        self.encoder = ort.InferenceSession(str(encoder_path), session, providers=providers)
        self.decoder = ort.InferenceSession(str(decoder_path), session, providers=providers)
        # The exporter drops graph inputs that the decoder never reads (fine pyramid levels of the previous frame).
        self._decoder_inputs = {i.name for i in self.decoder.get_inputs()}
        on_cuda = CUDA_PROVIDER in self.encoder.get_providers()
        self.name = "onnxruntime-cuda" if on_cuda else "onnxruntime-cpu"
        self.input_size = (model.config.input_width, model.config.input_height)
        self.graph_dir: Path = encoder_path.parent

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
