"""TensorRT backend: the two graphs as TensorRT engines (torch-tensorrt), FP16 by default, from the engine cache."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ss3d_core.backends.artifact_cache import ArtifactCache
from ss3d_core.backends.base import BackendOptions, BackendUnavailable, InferenceBackend, PairPrediction
from ss3d_core.backends.tensorrt_export import DEVICE, cached_tensorrt, load_tensorrt_program
from ss3d_core.checkpoint import CheckpointMetadata
from ss3d_core.network import SS3DNet

LOG = logging.getLogger(__name__)


class TensorRTBackend(InferenceBackend):
    """Runs the encoder/decoder engines on the GPU: a float32 image in, the pyramid (half in FP16) on the GPU, the
    outputs as float32/float64 numpy.

    Engines come from the keyed cache (``<cache>/tensorrt/``, see :mod:`ss3d_core.backends.tensorrt_export`):
    built on the first start with these weights, TensorRT version, GPU, input shape and precision (minutes), or by
    ``ss3d_export --format tensorrt`` ahead of time; loaded in about a second afterwards.

    Args:
        model: the loaded network (compiled on a cache miss; not modified).
        metadata: its checkpoint metadata (the weights hash keys the cache).
        options: ``precision`` (``fp16`` default, ``fp32``) and ``cache_dir``.

    Raises:
        BackendUnavailable: no CUDA GPU, torch-tensorrt missing, or the engine build or load failed (the message
            says which; :func:`~ss3d_core.backends.create_backend` then falls back to the next backend).
    """

    def __init__(self, model: SS3DNet, metadata: CheckpointMetadata, options: BackendOptions | None = None):
        options = options or BackendOptions()
        self.precision = options.precision
        start = time.perf_counter()
        try:
            encoder_path, decoder_path = cached_tensorrt(model, metadata, options.precision,
                                                         ArtifactCache(options.cache_dir))
        except BackendUnavailable:
            raise
        except Exception as err:  # torch.export / TensorRT raise many types; all mean "no engine here"
            raise BackendUnavailable(f"TensorRT engine build failed: {type(err).__name__}: {err}") from err
        try:
            self.encoder = load_tensorrt_program(encoder_path)
            self.decoder = load_tensorrt_program(decoder_path)
        except BackendUnavailable:
            raise
        except Exception as err:
            raise BackendUnavailable(f"cached TensorRT engines in {encoder_path.parent} cannot be loaded "
                                     f"({type(err).__name__}: {err}); delete that folder to rebuild them") from err
        self.name = f"tensorrt-{options.precision}"
        self.input_size = (model.config.input_width, model.config.input_height)
        self.engine_dir = encoder_path.parent
        LOG.info("TensorRT %s engines ready in %.1f s from %s", options.precision, time.perf_counter() - start,
                 self.engine_dir)

    @torch.inference_mode()
    def encode(self, image: np.ndarray) -> tuple[torch.Tensor, ...]:
        return tuple(self.encoder(torch.from_numpy(image).to(DEVICE)))

    @torch.inference_mode()
    def decode(self, features_prev: tuple[torch.Tensor, ...], features_cur: tuple[torch.Tensor, ...]) -> PairPrediction:
        depth, T_prev_cur, intrinsics_norm = self.decoder(*features_prev, *features_cur)
        return PairPrediction(
            depth=depth[0, 0].float().cpu().numpy(),
            T_prev_cur=T_prev_cur[0].double().cpu().numpy(),
            intrinsics_norm=intrinsics_norm[0].double().cpu().numpy(),
        )
