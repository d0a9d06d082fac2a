"""Rigid-body pose helpers on 4×4 homogeneous matrices.

Naming (GUIDE §3): ``T_dst_src`` maps a point expressed in frame ``src`` into frame ``dst``:
``p_dst = T_dst_src @ p_src``. Hence ``T_a_c = T_a_b @ T_b_c`` and ``T_src_dst = inverse(T_dst_src)``.
Rotation conversions come from kornia (tensors) and transforms3d (numpy), not hand-rolled formulas.
"""

from __future__ import annotations

import numpy as np
import torch
import transforms3d
from kornia.geometry.conversions import axis_angle_to_rotation_matrix

__all__ = [
    "pose_from_axis_angle_translation",
    "invert_pose",
    "invert_pose_batch",
    "rotation_angle_deg",
    "translation_direction_error_deg",
    "pose_to_quaternion_translation",
    "pose_from_quaternion_translation",
    "twist_from_relative_pose",
]


def pose_from_axis_angle_translation(axis_angle: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Build ``B×4×4`` poses from an axis-angle rotation (radians) and a translation.

    Args:
        axis_angle: ``B×3`` rotation vector, radians (kornia convention, right-hand rule).
        translation: ``B×3`` translation, in the unit of the depth it is used with.

    Returns:
        ``B×4×4`` float tensor ``[[R, t], [0, 1]]``.
    """
    rotation = axis_angle_to_rotation_matrix(axis_angle)
    top = torch.cat([rotation, translation.unsqueeze(-1)], dim=-1)
    bottom = torch.zeros_like(top[:, :1, :])
    bottom[..., 3] = 1.0
    return torch.cat([top, bottom], dim=1)


def invert_pose_batch(T: torch.Tensor) -> torch.Tensor:
    """Invert ``B×4×4`` rigid transforms exactly and differentiably: ``T_src_dst`` from ``T_dst_src``."""
    R_inv = T[:, :3, :3].transpose(1, 2)
    t_inv = -R_inv @ T[:, :3, 3:]
    bottom = T[:, 3:, :]
    return torch.cat([torch.cat([R_inv, t_inv], dim=2), bottom], dim=1)


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Invert a 4×4 rigid transform exactly (``Rᵀ``, ``-Rᵀt``); ``T_src_dst = invert_pose(T_dst_src)``."""
    T = np.asarray(T, dtype=np.float64)
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def rotation_angle_deg(R: np.ndarray) -> float:
    """Geodesic angle of a 3×3 rotation matrix in degrees (0 for the identity), via transforms3d."""
    _, angle = transforms3d.axangles.mat2axangle(np.asarray(R, dtype=np.float64), unit_thresh=1e-4)
    return float(np.degrees(abs(angle)))


def translation_direction_error_deg(
    t_est: np.ndarray, t_ref: np.ndarray, min_norm: float = 1e-9
) -> float | None:
    """Angle in degrees between two translation vectors (monocular translation is only known up to scale).

    Returns ``None`` when either vector is shorter than ``min_norm`` (direction undefined).
    """
    a, b = np.asarray(t_est, dtype=np.float64), np.asarray(t_ref, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < min_norm or nb < min_norm:
        return None
    cos = float(np.clip(a @ b / (na * nb), -1.0, 1.0))
    return float(np.degrees(np.arccos(cos)))


def pose_to_quaternion_translation(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a 4×4 pose into a unit quaternion ``(x, y, z, w)`` (ROS order) and a translation 3-vector."""
    T = np.asarray(T, dtype=np.float64)
    w, x, y, z = transforms3d.quaternions.mat2quat(T[:3, :3])
    return np.array([x, y, z, w]), T[:3, 3].copy()


def pose_from_quaternion_translation(q_xyzw: np.ndarray | list[float], t: np.ndarray | list[float]) -> np.ndarray:
    """4×4 pose from a quaternion ``(x, y, z, w)`` (ROS and TUM order; normalised by transforms3d) and a
    translation 3-vector; the inverse of :func:`pose_to_quaternion_translation`."""
    x, y, z, w = (float(v) for v in q_xyzw)
    T = np.eye(4)
    T[:3, :3] = transforms3d.quaternions.quat2mat([w, x, y, z])
    T[:3, 3] = [float(v) for v in t]
    return T


def twist_from_relative_pose(T_prev_cur: np.ndarray, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean body twist over ``dt_s`` from one relative motion (finite difference).

    Args:
        T_prev_cur: 4×4 pose of the current camera in the previous one (translation in the depth unit).
        dt_s: elapsed time in seconds (> 0).

    Returns:
        ``(linear, angular)``: linear velocity (unit/s) and angular velocity (rad/s, axis·angle/dt), both expressed in
        the *current* camera frame, as ``nav_msgs/Odometry.twist`` expects (child frame).

    Raises:
        ValueError: if ``dt_s <= 0``.
    """
    if not dt_s > 0:
        raise ValueError(f"dt_s must be > 0, got {dt_s}")
    T = np.asarray(T_prev_cur, dtype=np.float64)
    R, t = T[:3, :3], T[:3, 3]
    axis, angle = transforms3d.axangles.mat2axangle(R, unit_thresh=1e-4) if not np.allclose(R, np.eye(3)) else (
        np.zeros(3), 0.0)
    # The rotation axis is the same vector in both frames (R·axis = axis); the displacement is expressed in the
    # previous frame and rotated into the current one.
    return R.T @ t / dt_s, np.asarray(axis) * angle / dt_s
