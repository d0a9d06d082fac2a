"""The per-frame output contract of the streaming estimator."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class ResetReason(StrEnum):
    """Why odometry (and, for a camera change, the intrinsics estimate) restarted at this frame."""

    FIRST_FRAME = "first_frame"
    RESOLUTION_CHANGE = "resolution_change"
    STAMP_BACKWARDS = "stamp_backwards"
    STAMP_GAP = "stamp_gap"


class IntrinsicsSource(StrEnum):
    """Where the published ``K`` comes from."""

    KNOWN = "known"  # given by the user / a CameraInfo topic
    LEARNED = "learned"  # running median of the network's predictions
    PRIOR = "prior"  # no pair seen yet: the checkpoint's prior


@dataclass(frozen=True)
class FrameEstimate:
    """Everything the estimator knows after one frame.

    Attributes:
        stamp_ns: the input frame's timestamp, nanoseconds (outputs carry it unchanged).
        depth: ``h×w`` float32 depth along +Z of the camera optical frame (REP 103), in ``depth_unit``; ``h×w`` is
            the network size or the input size (``EstimatorConfig.output_size``).
        depth_unit: ``metres`` when a metric scale was configured, else ``relative`` (monocular, up to scale).
        T_odom_camera: ``4×4`` float64 pose of the camera optical frame in the odometry frame (REP 105), translation
            in ``depth_unit``.
        T_prev_cur: ``4×4`` float64 motion since the previous frame (from ``EstimatorConfig.pose_source``), or
            ``None`` on a reset.
        T_prev_cur_network: the network's own motion for the pair, whatever the pose source (``None`` on a reset).
        dt_s: seconds since the previous frame (``None`` on a reset).
        twist: ``(linear, angular)`` mean velocity since the previous frame in the camera frame (depth unit/s,
            rad/s), or ``None`` on a reset or when ``dt_s`` is under ``MIN_TWIST_DT_S`` (see the estimator).
        K: ``3×3`` float64 intrinsics in pixels at the depth image size.
        intrinsics_source: see :class:`IntrinsicsSource`.
        input_size: ``(width, height)`` of the input image, pixels.
        reset_reason: set when odometry restarted at this frame.
        segment: odometry segment index (incremented at every reset after the first frame).
        inference_ms: wall time of the network (encode + decode), milliseconds.
        preprocess_ms: wall time of resizing and laying out the image for the network, milliseconds.
        postprocess_ms: wall time from the network's outputs to this estimate (odometry, intrinsics, depth scaling
            and resizing, waiting for the geometric pose source where it outlasted the network), milliseconds.
        geometry_ms: wall time of the geometric pose source's solve for this pair, on its own thread while the
            network ran (0 for ``network``), milliseconds.
    """

    stamp_ns: int
    depth: np.ndarray
    depth_unit: str
    T_odom_camera: np.ndarray
    T_prev_cur: np.ndarray | None
    dt_s: float | None
    twist: tuple[np.ndarray, np.ndarray] | None
    K: np.ndarray
    intrinsics_source: IntrinsicsSource
    input_size: tuple[int, int]
    reset_reason: ResetReason | None
    segment: int
    inference_ms: float
    preprocess_ms: float = 0.0
    postprocess_ms: float = 0.0
    T_prev_cur_network: np.ndarray | None = None
    geometry_ms: float = 0.0
