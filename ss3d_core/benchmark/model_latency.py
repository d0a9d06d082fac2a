"""Model-only latency per backend on real frames, every figure also a ratio against torch eager in the same run.

What one "frame" costs in streaming use: encode the new frame once, decode the pair (previous, current), outputs
back on the host as numpy. Resizing is not included (it is the node's preprocessing stage). Backends take turns in
blocks of :data:`BLOCK_FRAMES` frames, so that load from other processes on the machine hits them alike (the ratios
against torch eager are meaningful even where the absolute figures are not, on a shared machine) while one
runtime's idle worker threads (torch's OpenMP pool spin-waits after each call) do not slow the next runtime's call;
the first frame of each block is not timed.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ss3d_core.backends import BACKENDS, BackendOptions, BackendUnavailable
from ss3d_core.backends.base import InferenceBackend
from ss3d_core.backends.parity import parity_errors, stream_predictions
from ss3d_core.checkpoint import CheckpointMetadata
from ss3d_core.network import SS3DNet
from ss3d_core.preprocess import to_network_input

BASELINE = "torch"
# Runs per backend before timing starts (allocators, thread pools, CUDA context and kernel selection).
WARM_UP_FRAMES = 5
# Consecutive frames one backend runs before the next takes its turn (the first of each block is not timed).
BLOCK_FRAMES = 10
# Bench names -> (factory name, precision). TensorRT is measured at both precisions.
BENCH_BACKENDS = {
    "torch": ("torch", "fp32"),
    "onnxruntime": ("onnxruntime", "fp32"),
    "torch-cuda": ("torch-cuda", "fp32"),
    "tensorrt-fp16": ("tensorrt", "fp16"),
    "tensorrt-fp32": ("tensorrt", "fp32"),
}


def scaled_network(model: SS3DNet, scale: int) -> SS3DNet:
    """The same weights at ``scale`` × the input size (the network is fully convolutional up to a global mean, so
    any multiple of 32 runs; the intrinsics prior keeps its aspect ratio at integer scales).

    Raises:
        ValueError: ``scale`` < 1.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if scale == 1:
        return model
    config = dataclasses.replace(model.config, input_height=model.config.input_height * scale,
                                 input_width=model.config.input_width * scale)
    scaled = SS3DNet(config)
    scaled.load_state_dict(model.state_dict())
    return scaled.eval()


def _percentiles(times_ms: Sequence[float]) -> dict[str, float]:
    values = np.asarray(times_ms, dtype=np.float64)
    return {"fps": float(1e3 / values.mean()), "p50_ms": float(np.percentile(values, 50)),
            "p95_ms": float(np.percentile(values, 95)), "p99_ms": float(np.percentile(values, 99))}


def open_backends(
    model: SS3DNet, metadata: CheckpointMetadata, names: Sequence[str], num_threads: int | None,
    cache_dir: str | None = None,
) -> tuple[dict[str, InferenceBackend], dict[str, str]]:
    """Build each bench backend of ``names`` (keys of :data:`BENCH_BACKENDS`) strictly, without fallback.

    Returns:
        ``(backends, unavailable)``: the backends that run here, and ``{name: reason}`` for the others.

    Raises:
        KeyError: an unknown bench backend name.
    """
    backends, unavailable = {}, {}
    for name in names:
        factory, precision = BENCH_BACKENDS[name]
        options = BackendOptions(num_threads=num_threads, precision=precision, cache_dir=cache_dir)
        try:
            # No fallback: measure what was asked. A copy each: a backend may move its network to its device.
            backends[name] = BACKENDS[factory](copy.deepcopy(model), metadata, options)
        except BackendUnavailable as err:
            unavailable[name] = str(err)
    return backends, unavailable


def measure_models(
    model: SS3DNet,
    metadata: CheckpointMetadata,
    frames: Sequence[np.ndarray],
    names: Sequence[str],
    scale: int = 1,
    iterations: int = 100,
    num_threads: int | None = None,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Latency of each backend at ``scale`` × the deployed input size over ``frames``.

    Args:
        model, metadata: the loaded checkpoint.
        frames: real ``H×W×3`` uint8 RGB frames (cycled when ``iterations`` exceeds their number).
        names: keys of :data:`BENCH_BACKENDS`; must include :data:`BASELINE`.
        scale: input size multiplier (1: the deployed size).
        iterations: timed frames per backend (after :data:`WARM_UP_FRAMES` untimed ones).
        num_threads: CPU threads of every backend.
        cache_dir: artefact cache root.

    Returns:
        ``{"input": "WxH", "backends": {name: {"fps", "p50_ms", "p95_ms", "p99_ms", "speedup_vs_torch", "parity"}},
        "unavailable": {name: reason}}``; ``speedup_vs_torch`` is torch eager's p50 over the backend's p50 and
        ``parity`` the errors of :func:`~ss3d_core.backends.parity.parity_errors` against torch eager.

    Raises:
        ValueError: torch eager (the baseline) is not among the backends that run.
    """
    net = scaled_network(model, scale)
    width, height = net.config.input_width, net.config.input_height
    backends, unavailable = open_backends(net, metadata, names, num_threads, cache_dir)
    if BASELINE not in backends:
        raise ValueError(f"the baseline backend {BASELINE!r} must be measured too")
    images = [to_network_input(frame, width, height) for frame in frames]
    reference = stream_predictions(backends[BASELINE], images)
    parity = {name: parity_errors(reference, stream_predictions(backend, images))
              for name, backend in backends.items() if name != BASELINE}
    for backend in backends.values():
        stream_predictions(backend, [images[i % len(images)] for i in range(WARM_UP_FRAMES + 1)])
    previous = {name: backend.encode(images[0]) for name, backend in backends.items()}
    times: dict[str, list[float]] = {name: [] for name in backends}
    timed_per_block = BLOCK_FRAMES - 1
    for block_start in range(0, iterations, timed_per_block):
        block = range(block_start, min(block_start + timed_per_block, iterations))
        for name, backend in backends.items():
            for position, i in enumerate((block_start - 1, *block)):
                start = time.perf_counter()
                features = backend.encode(images[i % len(images)])
                backend.decode(previous[name], features)
                elapsed_ms = (time.perf_counter() - start) * 1e3
                previous[name] = features
                if position:  # the block's first frame absorbs the previous runtime's idle threads
                    times[name].append(elapsed_ms)
    results = {name: _percentiles(values) for name, values in times.items()}
    baseline_p50 = results[BASELINE]["p50_ms"]
    for name, figures in results.items():
        figures["speedup_vs_torch"] = baseline_p50 / figures["p50_ms"]
        if name in parity:
            figures["parity"] = parity[name]
    return {"input": f"{width}x{height}", "backends": results, "unavailable": unavailable}
