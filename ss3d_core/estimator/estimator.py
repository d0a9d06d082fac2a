"""Streaming SS3D estimator: frames in, depth + odometry + intrinsics out (no ROS; the node wraps it)."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from ss3d_core.backends.base import InferenceBackend, default_num_threads
from ss3d_core.camera import K_to_normalised, square_pixel_intrinsics
from ss3d_core.estimator.frame_estimate import FrameEstimate, IntrinsicsSource, ResetReason
from ss3d_core.estimator.geometric_pose import POSE_SOURCES, GeometricPose, GeometricPoseResult
from ss3d_core.estimator.intrinsics_filter import IntrinsicsFilter
from ss3d_core.estimator.odometry import OdometryIntegrator
from ss3d_core.pose import twist_from_relative_pose
from ss3d_core.preprocess import to_network_input, validate_rgb8

OUTPUT_SIZES = ("network", "input")
# Shortest time step a twist is computed over (seconds): 1 ms is a 1 kHz camera, faster than any stream this
# estimator keeps up with. Over a shorter step (mis-stamped frames, 1 µs apart say) the finite difference turns
# network noise into thousands of units per second, so the twist is omitted (counted as ``twist_omitted_short_dt``)
# while the pose is still chained.
MIN_TWIST_DT_S = 1e-3


@dataclass(frozen=True)
class EstimatorConfig:
    """Streaming behaviour.

    Attributes:
        gap_threshold_s: a stamp more than this many seconds after the previous one breaks the motion chain
            (odometry restarts); 0.5 s is 5 frames at 10 Hz, beyond which the pair has too little overlap to trust.
        intrinsics_window: frames in the running median of the learned intrinsics.
        intrinsics_freeze_after: freeze the learned intrinsics after this many pairs (``None``: keep updating).
        output_size: ``network`` (depth at the network resolution, cheapest) or ``input`` (resized to the input).
        metric_scale: metres per network depth unit; ``None`` keeps the network's relative unit (monocular depth and
            translation are only known up to scale).
        square_pixels: publish learned intrinsics with ``fx = fy`` in pixels of the input image (their geometric
            mean). The network sees every image resized to its fixed input size and cannot know the source aspect
            ratio, so its two focal lengths disagree on non-square resizes; real cameras have square pixels.
        pose_source: ``geometric`` (tracked corners, essential matrix with the published K, scale from the network's
            depth: :mod:`ss3d_core.estimator.geometric_pose`) or ``network`` (the network's own ego-motion). Fixed for
            the estimator's life (the geometric source keeps the previous frame). The default, as the node's, is the
            source that scored better on the dev set's moving pairs (README, Evaluation).
    """

    gap_threshold_s: float = 0.5
    intrinsics_window: int = 30
    intrinsics_freeze_after: int | None = None
    output_size: str = "network"
    metric_scale: float | None = None
    square_pixels: bool = True
    pose_source: str = "geometric"

    def __post_init__(self) -> None:
        if self.gap_threshold_s <= 0:
            raise ValueError(f"gap_threshold_s must be > 0, got {self.gap_threshold_s}")
        if self.output_size not in OUTPUT_SIZES:
            raise ValueError(f"output_size must be one of {OUTPUT_SIZES}, got {self.output_size!r}")
        if self.metric_scale is not None and not self.metric_scale > 0:
            raise ValueError(f"metric_scale must be > 0 or None, got {self.metric_scale}")
        if self.pose_source not in POSE_SOURCES:
            raise ValueError(f"pose_source must be one of {POSE_SOURCES}, got {self.pose_source!r}")


class Estimator:
    """Runs one backend over a frame stream, encoding each frame once.

    Per frame: resize to the network size, encode, decode the pair (previous, current), update the robust
    intrinsics estimate, integrate ``T_odom_cur = T_odom_prev @ T_prev_cur``. The first frame, a change of input
    resolution, a stamp that does not advance, and a gap longer than ``gap_threshold_s`` restart odometry (counted in
    :attr:`counters` and reported in :attr:`FrameEstimate.reset_reason`).

    With ``pose_source="geometric"`` the pair's geometric solve runs on a second thread while the network runs on the
    calling one (it needs only the two images, the K published with the previous frame and the previous frame's
    depth: :mod:`ss3d_core.estimator.geometric_pose`); OpenCV and ONNX Runtime / torch release the GIL in their
    kernels, so on two cores the solve costs the frame little beyond the network's time. Until the first learned K
    (only the checkpoint's prior published so far, and no given K) the solve waits for the network instead.
    :meth:`close` stops that thread.

    Args:
        backend: a loaded :class:`InferenceBackend`.
        intrinsics_prior: normalised intrinsics used before the first pair (from the checkpoint metadata).
        config: :class:`EstimatorConfig`.
    """

    def __init__(self, backend: InferenceBackend, intrinsics_prior: Any, config: EstimatorConfig | None = None):
        self.backend = backend
        self.config = config or EstimatorConfig()
        self.intrinsics = IntrinsicsFilter(
            np.asarray(intrinsics_prior, dtype=np.float64),
            window=self.config.intrinsics_window,
            freeze_after=self.config.intrinsics_freeze_after,
        )
        self.odometry = OdometryIntegrator()
        self.geometric = GeometricPose() if self.config.pose_source == "geometric" else None
        self._geometry_thread = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="ss3d_geometry")
                                 if self.geometric is not None else None)
        self.counters: Counter[str] = Counter()
        self._known_intrinsics_norm: np.ndarray | None = None
        self._prev_features: Any = None
        self._prev_stamp_ns: int | None = None
        self._prev_size: tuple[int, int] | None = None

    # --- intrinsics --------------------------------------------------------------------------------------------
    def set_known_intrinsics(self, K: np.ndarray, width: int, height: int) -> None:
        """Use a calibrated ``K`` (3×3 pixels at ``width×height``) instead of the learned one, at any resolution.

        Raises:
            ValueError: on a K without positive finite focal lengths.
        """
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f"invalid K {K.tolist()}")
        self._known_intrinsics_norm = K_to_normalised(K, width, height)

    def clear_known_intrinsics(self) -> None:
        """Go back to learned intrinsics."""
        self._known_intrinsics_norm = None

    def _current_K(self, width: int, height: int, input_size: tuple[int, int]) -> tuple[np.ndarray, IntrinsicsSource]:
        """K in pixels at ``width×height`` (the depth size) for an input image of ``input_size`` (w, h)."""
        if self._known_intrinsics_norm is not None:
            norm, source = self._known_intrinsics_norm, IntrinsicsSource.KNOWN
        else:
            norm = self.intrinsics.estimate
            source = IntrinsicsSource.LEARNED if self.intrinsics.num_updates else IntrinsicsSource.PRIOR
        fx_n, fy_n, cx_n, cy_n = norm
        if self.config.square_pixels and source is not IntrinsicsSource.KNOWN:
            # Square pixels of the input image (fy/fx = 1 there), the same geometric-mean focal length.
            square = square_pixel_intrinsics(torch.tensor([[fx_n, fy_n, cx_n, cy_n]], dtype=torch.float64),
                                             torch.ones(1, dtype=torch.float64), *input_size)
            fx_n, fy_n = square[0, :2].tolist()
        K = np.array([[fx_n * width, 0.0, cx_n * width - 0.5], [0.0, fy_n * height, cy_n * height - 0.5], [0, 0, 1.0]])
        return K, source

    # --- stream handling ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the geometric source's thread (waits for a solve in progress); idempotent. ``estimate`` must not be
        called afterwards."""
        if self._geometry_thread is not None:
            self._geometry_thread.shutdown(wait=True)

    def _timed_geometric_update(self, image: np.ndarray, K: np.ndarray, size: tuple[int, int]
                                ) -> tuple[GeometricPoseResult | None, float]:
        start = time.perf_counter()
        result = self.geometric.update(image, K, size)
        return result, (time.perf_counter() - start) * 1e3

    def reset(self) -> None:
        """Forget the previous frame; the next frame starts a new odometry segment."""
        self._prev_features = None
        self._prev_stamp_ns = None
        if self.geometric is not None:
            self.geometric.reset()

    def _reset_reason(self, stamp_ns: int, size: tuple[int, int]) -> ResetReason | None:
        if self._prev_features is None or self._prev_stamp_ns is None:
            return ResetReason.FIRST_FRAME
        if size != self._prev_size:
            return ResetReason.RESOLUTION_CHANGE
        if stamp_ns <= self._prev_stamp_ns:
            return ResetReason.STAMP_BACKWARDS
        if (stamp_ns - self._prev_stamp_ns) * 1e-9 > self.config.gap_threshold_s:
            return ResetReason.STAMP_GAP
        return None

    def estimate(self, image: np.ndarray, stamp_ns: int) -> FrameEstimate:
        """Process one frame.

        Args:
            image: ``H×W×3`` uint8 RGB.
            stamp_ns: capture time in nanoseconds (int).

        Returns:
            :class:`FrameEstimate` stamped ``stamp_ns``.

        Raises:
            ValueError: if ``image`` is not a non-empty ``H×W×3`` uint8 array.
        """
        validate_rgb8(image)
        height, width = image.shape[:2]
        size = (width, height)
        reason = self._reset_reason(int(stamp_ns), size)
        if reason is not None:
            self.counters[f"reset_{reason.value}"] += 1
            if reason is ResetReason.RESOLUTION_CHANGE:
                self.intrinsics.reset()
            if reason is not ResetReason.FIRST_FRAME or self.counters["frames"]:
                self.odometry.reset()

        geometry: Future | None = None
        if self.geometric is not None:
            if reason is not None:
                self.geometric.reset()
            if self._known_intrinsics_norm is not None or self.intrinsics.num_updates:
                # The K published with the previous frame (learned or given), at the input size.
                K_input, _ = self._current_K(width, height, size)
                geometry = self._geometry_thread.submit(self._timed_geometric_update, image, K_input, size)

        start = time.perf_counter()
        network_input = to_network_input(image, *self.backend.input_size)
        inference_start = time.perf_counter()
        features = self.backend.encode(network_input)
        prediction = self.backend.decode(features if reason else self._prev_features, features)
        inference_end = time.perf_counter()

        scale = self.config.metric_scale or 1.0
        T_prev_cur = T_prev_cur_network = dt_s = twist = None
        if reason is None:
            self.intrinsics.update(prediction.intrinsics_norm)
            T_prev_cur_network = prediction.T_prev_cur.copy()
            T_prev_cur_network[:3, 3] *= scale
        T_prev_cur = T_prev_cur_network
        geometry_ms = 0.0
        if self.geometric is not None and geometry is None:
            # Before the first learned K only the checkpoint's prior was published: this pair (the first of a
            # stream, or after a resolution change) waits for the network's K instead of overlapping with it.
            K_input, _ = self._current_K(width, height, size)
            geometry = self._geometry_thread.submit(self._timed_geometric_update, image, K_input, size)
        if geometry is not None:
            geometric, geometry_ms = geometry.result()
            self.geometric.set_depth(prediction.depth)  # network units, as the network's motion
            if geometric is not None and reason is None:
                self.counters[f"pose_geometric_{geometric.outcome.value}"] += 1
                if geometric.T_prev_cur is not None:
                    T_prev_cur = geometric.T_prev_cur.copy()
                    T_prev_cur[:3, 3] *= scale
        if reason is None:
            self.odometry.integrate(T_prev_cur)
            dt_s = (int(stamp_ns) - self._prev_stamp_ns) * 1e-9
            if dt_s >= MIN_TWIST_DT_S:
                twist = twist_from_relative_pose(T_prev_cur, dt_s)
            else:
                self.counters["twist_omitted_short_dt"] += 1

        depth = prediction.depth * np.float32(scale)
        if self.config.output_size == "input" and depth.shape != (height, width):
            depth = cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)
        K, source = self._current_K(depth.shape[1], depth.shape[0], size)

        self._prev_features, self._prev_stamp_ns, self._prev_size = features, int(stamp_ns), size
        self.counters["frames"] += 1
        return FrameEstimate(
            stamp_ns=int(stamp_ns),
            depth=depth,
            depth_unit="metres" if self.config.metric_scale else "relative",
            T_odom_camera=self.odometry.T_odom_camera.copy(),
            T_prev_cur=T_prev_cur,
            dt_s=dt_s,
            twist=twist,
            K=K,
            intrinsics_source=source,
            input_size=size,
            reset_reason=reason,
            segment=self.odometry.segment,
            inference_ms=(inference_end - inference_start) * 1e3,
            preprocess_ms=(inference_start - start) * 1e3,
            postprocess_ms=(time.perf_counter() - inference_end) * 1e3,
            T_prev_cur_network=T_prev_cur_network,
            geometry_ms=geometry_ms,
        )


def limit_cpu_threads(num_threads: int) -> None:
    """Cap the CPU thread pools of this process's per-frame work at ``num_threads``: OpenCV's (resize) and torch's
    intra-op pool (small tensor ops; the network itself when it runs on torch).

    Both libraries otherwise start one thread per core. On 2 cores a work-sharing pool whose second thread finds its
    core taken (by DDS, the camera driver, any other process) waits for it: an element-wise torch op on 8×3×128×224
    took 0.13 ms with one thread and 12 ms with two while other processes kept both cores busy (docs/performance.md).

    Raises:
        ValueError: ``num_threads`` < 1.
    """
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    cv2.setNumThreads(num_threads)
    torch.set_num_threads(num_threads)


def build_estimator(
    checkpoint: str,
    backend: str = "auto",
    config: EstimatorConfig | None = None,
    num_threads: int | None = None,
    precision: str = "fp16",
    cache_dir: str | None = None,
) -> Estimator:
    """Load ``checkpoint`` on ``backend`` (see :func:`ss3d_core.backends.create_backend` for the arguments) and
    wrap it; the process's OpenCV and torch thread pools are capped at the same ``num_threads``
    (:func:`limit_cpu_threads`).

    Raises:
        ss3d_core.checkpoint.CheckpointError, ss3d_core.backends.BackendUnavailable, ValueError.
    """
    from ss3d_core.backends import create_backend

    limit_cpu_threads(num_threads or default_num_threads())
    runtime, metadata = create_backend(backend, checkpoint, num_threads=num_threads, precision=precision,
                                       cache_dir=cache_dir)
    return Estimator(runtime, metadata.intrinsics_prior, config)
