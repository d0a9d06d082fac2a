"""Pose integration of relative motion into an odometry frame (REP 105 ``odom``)."""

from __future__ import annotations

import numpy as np

# Rotation from the camera optical frame (REP 103 suffix ``_optical``: x right, y down, z forward) to a body frame
# (REP 103: x forward, y left, z up).
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
T_ODOM_OPTICAL_START = np.eye(4)
T_ODOM_OPTICAL_START[:3, :3] = R_BODY_OPTICAL


class OdometryIntegrator:
    """Chains ``T_odom_cur = T_odom_prev @ T_prev_cur``.

    The odometry frame (REP 105 ``odom``) is x forward, y left, z up, with its origin at the camera of the first
    frame of the current *segment* and its axes level with that camera (the camera is assumed level at start):
    the segment starts at ``T_odom_camera = T_ODOM_OPTICAL_START``. :meth:`reset` starts a new segment
    (:attr:`segment` incremented), which callers do when the stream is discontinuous (stamps going backwards, a gap,
    a camera change).
    """

    def __init__(self) -> None:
        self.T_odom_camera = T_ODOM_OPTICAL_START.copy()
        self.segment = 0

    def integrate(self, T_prev_cur: np.ndarray) -> np.ndarray:
        """Apply one relative motion (4×4, translation in the depth unit); returns the new ``T_odom_camera``.

        Raises:
            ValueError: if the motion is not a finite 4×4 rigid transform.
        """
        T = np.asarray(T_prev_cur, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ValueError(f"T_prev_cur must be a finite 4×4 matrix, got shape {T.shape}")
        T_odom_camera = self.T_odom_camera @ T
        # Re-orthonormalise the rotation so that round-off does not accumulate over long runs.
        u, _, vt = np.linalg.svd(T_odom_camera[:3, :3])
        T_odom_camera[:3, :3] = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
        self.T_odom_camera = T_odom_camera
        return T_odom_camera.copy()

    def reset(self) -> None:
        """Start a new segment at the start pose."""
        self.T_odom_camera = T_ODOM_OPTICAL_START.copy()
        self.segment += 1
