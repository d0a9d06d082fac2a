"""The inference backend interface: the same two graphs (encode one frame; decode a pair) on any runtime.

Streaming inference encodes every frame exactly once and decodes ``(previous, current)`` from cached pyramids, so
a backend exposes the two halves of :class:`~ss3d_core.network.SS3DNet` separately.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

PRECISIONS = ("fp16", "fp32")


def default_num_threads() -> int:
    """CPU inference threads when none are configured: one less than the cores this process may run on, at least 1.

    The node's other work (DDS receiving 1.5 MB images, conversion, publishing) runs while the network computes; on
    a 2-core robot computer one inference thread plus one core for the rest beat two inference threads competing
    with it (``ss3d_bench``, README Performance).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


class BackendUnavailable(RuntimeError):
    """The requested runtime is not installed or cannot run here (the message says why)."""


@dataclass(frozen=True)
class BackendOptions:
    """How to build a backend.

    Attributes:
        num_threads: CPU intra-op threads of the runtime (``None``: :func:`default_num_threads`).
        precision: ``fp16`` or ``fp32``; only TensorRT uses it (the other runtimes compute in float32).
        cache_dir: root of the compiled-artefact cache (``None``: ``$SS3D_CACHE_DIR`` or ``~/.cache/ss3d_ros``).

    Raises:
        ValueError: on an unknown precision or a non-positive thread count.
    """

    num_threads: int | None = None
    precision: str = "fp16"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 or None, got {self.num_threads}")


@dataclass(frozen=True)
class PairPrediction:
    """Network outputs for one ``(previous, current)`` pair, as numpy.

    Attributes:
        depth: ``h×w`` float32 depth of the current frame at the network size, network depth unit.
        T_prev_cur: ``4×4`` float64 pose mapping current-camera points into the previous camera.
        intrinsics_norm: ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)`` float64.
    """

    depth: np.ndarray
    T_prev_cur: np.ndarray
    intrinsics_norm: np.ndarray


class InferenceBackend(ABC):
    """One runtime executing a loaded checkpoint.

    Attributes:
        name: short runtime name reported in diagnostics (``torch-cpu``, ``onnxruntime-cpu``, ``tensorrt-fp16``...).
        input_size: ``(width, height)`` the network expects, pixels.
        skipped: ``(backend, reason)`` of the backends tried before this one and unavailable (set by
            :func:`~ss3d_core.backends.create_backend`; empty when the first choice ran).
    """

    name: str
    input_size: tuple[int, int]
    skipped: tuple[tuple[str, str], ...] = ()

    @abstractmethod
    def encode(self, image: np.ndarray) -> Any:
        """Encode one ``1×3×H×W`` float32 RGB [0, 1] image; returns an opaque feature pyramid for :meth:`decode`."""

    @abstractmethod
    def decode(self, features_prev: Any, features_cur: Any) -> PairPrediction:
        """Predict depth of the current frame, ``T_prev_cur`` and intrinsics from two pyramids."""

    def warm_up(self) -> None:
        """Run both graphs once on a blank frame, so that lazy initialisation does not delay the first real one."""
        width, height = self.input_size
        features = self.encode(np.zeros((1, 3, height, width), dtype=np.float32))
        self.decode(features, features)
