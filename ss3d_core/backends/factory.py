"""Backend selection: ``tensorrt``, ``torch-cuda``, ``onnxruntime``, ``torch`` or ``auto`` (the fastest one here).

``auto`` tries, in order: TensorRT (a CUDA GPU and torch-tensorrt present), torch on CUDA, ONNX Runtime (CUDA
execution provider with onnxruntime-gpu, else CPU), torch on CPU. The CPU order comes from ``ss3d_bench`` (ONNX
Runtime against torch eager, same run, same frames). ``tensorrt`` named explicitly falls back the same way when it
cannot run (no GPU, torch-tensorrt missing, an engine build that fails on this GPU), so a robot still comes up; the
other names are strict and raise :class:`BackendUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ss3d_core.backends.base import BackendOptions, BackendUnavailable, InferenceBackend, default_num_threads
from ss3d_core.checkpoint import CheckpointMetadata, load_checkpoint
from ss3d_core.network import SS3DNet

LOG = logging.getLogger(__name__)

BackendFactory = Callable[[SS3DNet, CheckpointMetadata, BackendOptions], InferenceBackend]


def _tensorrt(model: SS3DNet, metadata: CheckpointMetadata, options: BackendOptions) -> InferenceBackend:
    from ss3d_core.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(model, metadata, options)


def _torch_cuda(model: SS3DNet, metadata: CheckpointMetadata, options: BackendOptions) -> InferenceBackend:
    from ss3d_core.backends.torch_backend import TorchBackend

    return TorchBackend(model, device="cuda", num_threads=options.num_threads)


def _torch_cpu(model: SS3DNet, metadata: CheckpointMetadata, options: BackendOptions) -> InferenceBackend:
    from ss3d_core.backends.torch_backend import TorchBackend

    return TorchBackend(model, device="cpu", num_threads=options.num_threads)


def _onnxruntime(model: SS3DNet, metadata: CheckpointMetadata, options: BackendOptions) -> InferenceBackend:
    from ss3d_core.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model, metadata, options)


BACKENDS: dict[str, BackendFactory] = {
    "tensorrt": _tensorrt,
    "torch-cuda": _torch_cuda,
    "onnxruntime": _onnxruntime,
    "torch": _torch_cpu,
}
# Candidates tried in order for each requested name.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "auto": ("tensorrt", "torch-cuda", "onnxruntime", "torch"),
    "tensorrt": ("tensorrt", "onnxruntime", "torch"),
}
BACKEND_NAMES = ("auto", *BACKENDS)


def build_backend(
    name: str, model: SS3DNet, metadata: CheckpointMetadata, options: BackendOptions | None = None
) -> InferenceBackend:
    """Wrap an already loaded network in the requested runtime, falling back as :data:`CANDIDATES` says.

    Args:
        name: one of :data:`BACKEND_NAMES`.
        model, metadata: from :func:`~ss3d_core.checkpoint.load_checkpoint`.
        options: threads, precision, cache folder.

    Returns:
        The backend; its ``skipped`` lists the candidates that could not run, with the reason. A fallback away from
        an explicitly requested backend is logged as a warning (one line), skipped ``auto`` candidates at info.

    Raises:
        ValueError: unknown backend name.
        BackendUnavailable: the named runtime cannot run here (``auto``/``tensorrt``: none of their candidates).
    """
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKEND_NAMES}")
    options = options or BackendOptions()
    if options.num_threads is None:
        options = replace(options, num_threads=default_num_threads())
    skipped: list[tuple[str, str]] = []
    for candidate in CANDIDATES.get(name, (name,)):
        try:
            backend = BACKENDS[candidate](model, metadata, options)
        except BackendUnavailable as err:
            if candidate == name and name not in CANDIDATES:
                raise
            skipped.append((candidate, str(err)))
            continue
        backend.skipped = tuple(skipped)
        if skipped:
            reasons = "; ".join(f"{n}: {reason}" for n, reason in skipped)
            level = logging.INFO if name == "auto" else logging.WARNING
            LOG.log(level, "backend %s unavailable (%s); running on %s", skipped[0][0], reasons, backend.name)
        return backend
    raise BackendUnavailable(f"no inference backend can run here for {name!r}: "
                             + "; ".join(f"{n}: {reason}" for n, reason in skipped))


def create_backend(
    name: str,
    checkpoint: str | Path,
    num_threads: int | None = None,
    precision: str = "fp16",
    cache_dir: str | Path | None = None,
) -> tuple[InferenceBackend, CheckpointMetadata]:
    """Load ``checkpoint`` and wrap it in the requested runtime (:func:`build_backend`).

    Args:
        name: one of :data:`BACKEND_NAMES`.
        checkpoint: SS3D checkpoint path (see :mod:`ss3d_core.checkpoint`).
        num_threads: CPU threads for the runtime (``None``: :func:`~ss3d_core.backends.base.default_num_threads`).
        precision: ``fp16`` or ``fp32`` (TensorRT only).
        cache_dir: compiled-artefact cache root (``None``: ``$SS3D_CACHE_DIR`` or ``~/.cache/ss3d_ros``).

    Returns:
        ``(backend, metadata)``.

    Raises:
        ValueError: unknown backend name or precision.
        BackendUnavailable: see :func:`build_backend`.
        ss3d_core.checkpoint.CheckpointError: the checkpoint cannot be loaded.
    """
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKEND_NAMES}")
    options = BackendOptions(num_threads=num_threads, precision=precision,
                             cache_dir=str(cache_dir) if cache_dir else None)
    model, metadata = load_checkpoint(checkpoint)
    return build_backend(name, model, metadata, options), metadata
