"""Do two backends compute the same network? Errors of a candidate against torch eager, and the stated tolerances.

The same real frames go through both backends as a stream (each frame encoded once, each consecutive pair
decoded); per pair the candidate's outputs are compared with the reference's:

* depth: relative error ``|d - d_ref| / d_ref`` per pixel, its median and maximum over all pairs;
* pose: absolute error of the ``4×4`` ``T_prev_cur`` entries (rotation unitless, translation in network units);
* intrinsics: absolute error of the normalised ``(fx/W, fy/H, cx/W, cy/H)``.

Tolerances (:data:`TOLERANCES`) are per backend kind. ONNX Runtime runs the same float32 graph (measured with the
bundled checkpoint on 7 pairs of the dashcam sample, 2-core x86 CPU: depth max 5e-7, median 0, pose 6e-8,
intrinsics 1.2e-7; the limits leave about 100× headroom for other CPUs' kernels and thread counts). TensorRT FP32
(TF32 off) may pick other convolution algorithms; FP16 rounds the encoder and depth decoder to 11-bit mantissas,
and the float32 motion head then sees rounded features. The TensorRT limits are set from the numeric formats, not
yet measured (no GPU was available when they were written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ss3d_core.backends.base import InferenceBackend, PairPrediction


@dataclass(frozen=True)
class ParityTolerance:
    """Largest accepted errors of a backend against torch eager (see the module docstring for definitions)."""

    depth_rel_median: float
    depth_rel_max: float
    pose_abs_max: float
    intrinsics_abs_max: float


TOLERANCES: dict[str, ParityTolerance] = {
    "onnxruntime": ParityTolerance(depth_rel_median=1e-5, depth_rel_max=1e-4, pose_abs_max=1e-5,
                                   intrinsics_abs_max=1e-5),
    "tensorrt-fp32": ParityTolerance(depth_rel_median=1e-4, depth_rel_max=1e-2, pose_abs_max=1e-4,
                                     intrinsics_abs_max=1e-4),
    "tensorrt-fp16": ParityTolerance(depth_rel_median=1e-2, depth_rel_max=1e-1, pose_abs_max=2e-3,
                                     intrinsics_abs_max=2e-3),
}


def tolerance_for(backend_name: str) -> ParityTolerance:
    """The tolerance of a backend by its runtime name (``onnxruntime-cpu``, ``tensorrt-fp16``, ...).

    Raises:
        KeyError: no tolerance is stated for that runtime.
    """
    for kind, tolerance in TOLERANCES.items():
        if backend_name.startswith(kind):
            return tolerance
    raise KeyError(f"no parity tolerance stated for backend {backend_name!r}")


def stream_predictions(backend: InferenceBackend, images: Sequence[np.ndarray]) -> list[PairPrediction]:
    """Predictions for each consecutive pair of ``images`` (each ``1×3×H×W`` float32 RGB in [0, 1]), streamed as the
    estimator does: every frame encoded once."""
    predictions = []
    previous = backend.encode(images[0])
    for image in images[1:]:
        current = backend.encode(image)
        predictions.append(backend.decode(previous, current))
        previous = current
    return predictions


def parity_errors(reference: Sequence[PairPrediction], candidate: Sequence[PairPrediction]) -> dict[str, float]:
    """``{depth_rel_median, depth_rel_max, pose_abs_max, intrinsics_abs_max}`` of ``candidate`` against
    ``reference`` (same pairs, same order).

    Raises:
        ValueError: different numbers of pairs or depth shapes.
    """
    if len(reference) != len(candidate) or not reference:
        raise ValueError(f"need the same non-zero number of pairs, got {len(reference)} and {len(candidate)}")
    relative, pose, intrinsics = [], [], []
    for ref, cand in zip(reference, candidate):
        if ref.depth.shape != cand.depth.shape:
            raise ValueError(f"depth shapes differ: {ref.depth.shape} vs {cand.depth.shape}")
        ref_depth = ref.depth.astype(np.float64)
        relative.append(np.abs(cand.depth.astype(np.float64) - ref_depth).ravel() / ref_depth.ravel())
        pose.append(np.abs(cand.T_prev_cur - ref.T_prev_cur).max())
        intrinsics.append(np.abs(cand.intrinsics_norm - ref.intrinsics_norm).max())
    relative_all = np.concatenate(relative)
    return {
        "depth_rel_median": float(np.median(relative_all)),
        "depth_rel_max": float(relative_all.max()),
        "pose_abs_max": float(max(pose)),
        "intrinsics_abs_max": float(max(intrinsics)),
    }


def within(errors: dict[str, float], tolerance: ParityTolerance) -> list[str]:
    """The error names of :func:`parity_errors` that exceed ``tolerance`` (empty: the backend is at parity)."""
    return [name for name, value in errors.items() if not value <= getattr(tolerance, name)]
