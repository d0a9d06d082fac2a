"""Backend selection: ``torch``, ``onnxruntime`` or ``auto`` (the fastest one available here).

``auto`` prefers, in order: torch on CUDA (when a GPU is visible), then ONNX Runtime on CPU, then torch on CPU.
The CPU order comes from ``benchmarks/backends.py`` (ONNX Runtime vs torch eager, same run, same input). A
TensorRT backend registers here under ``tensorrt`` and goes first in the ``auto`` order once it exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ss3d_core.backends.base import BackendUnavailable, InferenceBackend
from ss3d_core.checkpoint import CheckpointMetadata, load_checkpoint
from ss3d_core.network import SS3DNet

LOG = logging.getLogger(__name__)

BackendFactory = Callable[[SS3DNet, CheckpointMetadata, int | None], InferenceBackend]


def _torch_cuda(model: SS3DNet, metadata: CheckpointMetadata, num_threads: int | None) -> InferenceBackend:
    from ss3d_core.backends.torch_backend import TorchBackend

    return TorchBackend(model, device="cuda", num_threads=num_threads)


def _torch_cpu(model: SS3DNet, metadata: CheckpointMetadata, num_threads: int | None) -> InferenceBackend:
    from ss3d_core.backends.torch_backend import TorchBackend

    return TorchBackend(model, device="cpu", num_threads=num_threads)


def _onnxruntime(model: SS3DNet, metadata: CheckpointMetadata, num_threads: int | None) -> InferenceBackend:
    from ss3d_core.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model, metadata, num_threads=num_threads)


BACKENDS: dict[str, BackendFactory] = {
    "torch": _torch_cpu,
    "torch-cuda": _torch_cuda,
    "onnxruntime": _onnxruntime,
}
AUTO_ORDER = ("torch-cuda", "onnxruntime", "torch")


def create_backend(
    name: str,
    checkpoint: str | Path,
    num_threads: int | None = None,
) -> tuple[InferenceBackend, CheckpointMetadata]:
    """Load ``checkpoint`` and wrap it in the requested runtime.

    Args:
        name: ``auto`` or a key of :data:`BACKENDS`.
        checkpoint: SS3D checkpoint path (see :mod:`ss3d_core.checkpoint`).
        num_threads: CPU threads for the runtime.

    Returns:
        ``(backend, metadata)``.

    Raises:
        ValueError: unknown backend name.
        BackendUnavailable: the named runtime cannot run here (``auto`` raises only if none can).
        ss3d_core.checkpoint.CheckpointError: the checkpoint cannot be loaded.
    """
    if name != "auto" and name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose auto or one of {sorted(BACKENDS)}")
    model, metadata = load_checkpoint(checkpoint)
    candidates = AUTO_ORDER if name == "auto" else (name,)
    reasons = []
    for candidate in candidates:
        try:
            backend = BACKENDS[candidate](model, metadata, num_threads)
        except BackendUnavailable as err:
            if name != "auto":
                raise
            reasons.append(f"{candidate}: {err}")
            LOG.info("backend %s unavailable: %s", candidate, err)
            continue
        return backend, metadata
    raise BackendUnavailable("no inference backend can run here: " + "; ".join(reasons))
