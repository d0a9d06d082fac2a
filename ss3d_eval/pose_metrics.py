"""Ego-motion metrics: relative pose error on consecutive pairs and ATE after Sim(3) alignment (GUIDE §4).

Conventions (GUIDE §3): ``T_dst_src`` maps points of ``src`` into ``dst``. Ground truth gives ``T_world_camera`` per
frame; the relative motion of a pair is ``T_prev_cur = inv(T_world_prev) @ T_world_cur`` (current-camera points into
the previous camera), the same quantity the estimator outputs as ``FrameEstimate.T_prev_cur``.

Relative pose error of one pair (Sturm et al. 2012 RPE, reported per component for a monocular system):

* rotation error: geodesic angle of ``R_est^T R_gt`` in degrees;
* translation-direction error: angle between ``t_est`` and ``t_gt`` in degrees (monocular translation is only known
  up to scale). It is undefined, and the pair is counted as skipped, when the ground-truth translation is below
  :data:`TRANSLATION_NOISE_FLOOR_M` (a static camera has no translation direction).

ATE (absolute trajectory error, Sturm et al. 2012): RMSE of the position differences after a Sim(3) Umeyama
alignment of the estimate onto the ground truth, computed with evo (``evo_ape tum gt est -as``, i.e.
:func:`evo.main_ape.ape` with ``align=True, correct_scale=True`` on ``PoseRelation.translation_part``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ss3d_core.pose import invert_pose, rotation_angle_deg, translation_direction_error_deg

__all__ = [
    "TRANSLATION_NOISE_FLOOR_M",
    "MIN_ATE_POSES",
    "RelativePoseError",
    "AteResult",
    "relative_motion",
    "relative_pose_error",
    "relative_pose_errors",
    "pair_records",
    "aggregate_pose",
    "ate_sim3",
]

# Ground-truth translations shorter than this (metres) have no reliable direction: 5 mm is five times the ~1 mm
# position accuracy of the motion-capture ground truth of TUM RGB-D (Sturm et al. 2012) and EuRoC (Burri et al. 2016).
TRANSLATION_NOISE_FLOOR_M = 0.005
# Fewest poses for a Sim(3) alignment: Umeyama needs a rank >= 2 cross-covariance, i.e. 3 non-collinear positions.
MIN_ATE_POSES = 3
# Estimated translations shorter than this (estimate's unit) have no direction either (numerical zero).
_MIN_EST_TRANSLATION = 1e-12


@dataclass(frozen=True)
class RelativePoseError:
    """Errors of one consecutive pair.

    Attributes:
        rot_err_deg: geodesic angle of ``R_est^T R_gt``, degrees.
        tdir_err_deg: angle between estimated and ground-truth translation, degrees; ``None`` when undefined.
        gt_translation_m: ``|t_gt|`` of the pair, metres.
        tdir_skip_reason: ``gt_below_noise_floor`` or ``est_translation_zero`` when ``tdir_err_deg`` is ``None``.
    """

    rot_err_deg: float
    tdir_err_deg: float | None
    gt_translation_m: float
    tdir_skip_reason: str | None = None

    @property
    def moving(self) -> bool:
        """The ground-truth camera moved at least the noise floor (the translation direction is defined)."""
        return self.tdir_skip_reason != "gt_below_noise_floor"

    def as_dict(self) -> dict[str, float | str | None]:
        """Plain-dict form (JSON-ready)."""
        return asdict(self)


def pair_records(frames: Sequence[int], errors: Sequence[RelativePoseError | None]) -> list[dict[str, object]]:
    """Per-pair results for a report, so that two reports can be compared pair by pair.

    Args:
        frames: for each pair, the index (in ``rgb.txt``) of its current frame; the pair is ``(frame - 1, frame)``.
        errors: the pairs' errors, aligned with ``frames``; ``None`` where no estimate exists.

    Returns:
        ``[{"frame", "rot_err_deg", "tdir_err_deg", "gt_translation_m", "tdir_skip_reason", "moving"}]``, or
        ``{"frame", "no_estimate": True}`` for a ``None`` entry.

    Raises:
        ValueError: if the lists differ in length.
    """
    if len(frames) != len(errors):
        raise ValueError(f"{len(frames)} frames for {len(errors)} pair errors")
    return [{"frame": int(i), "no_estimate": True} if e is None
            else {"frame": int(i), **e.as_dict(), "moving": e.moving} for i, e in zip(frames, errors)]


def _check_pose(name: str, T: np.ndarray) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ValueError(f"{name} must be a finite 4×4 pose, got shape {T.shape}")
    return T


def relative_motion(T_world_prev: np.ndarray, T_world_cur: np.ndarray) -> np.ndarray:
    """``T_prev_cur = inv(T_world_prev) @ T_world_cur`` (4×4 float64) from two absolute poses (any common world)."""
    return invert_pose(_check_pose("T_world_prev", T_world_prev)) @ _check_pose("T_world_cur", T_world_cur)


def relative_pose_error(
    T_prev_cur_est: np.ndarray,
    T_prev_cur_gt: np.ndarray,
    noise_floor_m: float = TRANSLATION_NOISE_FLOOR_M,
) -> RelativePoseError:
    """Compare one estimated relative motion with the ground truth.

    Args:
        T_prev_cur_est: ``4×4`` estimated motion (current camera into previous camera), translation in any unit.
        T_prev_cur_gt: ``4×4`` ground-truth motion, translation in metres.
        noise_floor_m: ground-truth translations shorter than this skip the direction error.

    Returns:
        :class:`RelativePoseError`.

    Raises:
        ValueError: on non-finite or non-4×4 input.
    """
    T_est = _check_pose("T_prev_cur_est", T_prev_cur_est)
    T_gt = _check_pose("T_prev_cur_gt", T_prev_cur_gt)
    rot_err = rotation_angle_deg(T_est[:3, :3].T @ T_gt[:3, :3])
    gt_norm = float(np.linalg.norm(T_gt[:3, 3]))
    if gt_norm < noise_floor_m:
        return RelativePoseError(rot_err, None, gt_norm, "gt_below_noise_floor")
    tdir = translation_direction_error_deg(T_est[:3, 3], T_gt[:3, 3], min_norm=_MIN_EST_TRANSLATION)
    return RelativePoseError(rot_err, tdir, gt_norm, None if tdir is not None else "est_translation_zero")


def relative_pose_errors(
    T_est_list: Sequence[np.ndarray | None],
    T_gt_list: Sequence[np.ndarray | None],
    noise_floor_m: float = TRANSLATION_NOISE_FLOOR_M,
) -> list[RelativePoseError | None]:
    """Relative pose errors of consecutive pairs of two absolute trajectories of equal length.

    Args:
        T_est_list: ``N`` estimated poses ``T_odom_camera`` (4×4, any unit), ``None`` where no estimate exists.
        T_gt_list: ``N`` ground-truth poses ``T_world_camera`` (4×4, metres), ``None`` where no GT matches.
        noise_floor_m: see :func:`relative_pose_error`.

    Returns:
        ``N - 1`` entries, pair ``(i, i+1)`` at index ``i``; ``None`` when one of the four poses is missing (count these
        as skipped pairs).

    Raises:
        ValueError: if the lists differ in length.
    """
    if len(T_est_list) != len(T_gt_list):
        raise ValueError(f"trajectories differ in length: {len(T_est_list)} vs {len(T_gt_list)}")
    out: list[RelativePoseError | None] = []
    for i in range(len(T_est_list) - 1):
        poses = (T_est_list[i], T_est_list[i + 1], T_gt_list[i], T_gt_list[i + 1])
        if any(p is None for p in poses):
            out.append(None)
            continue
        out.append(
            relative_pose_error(relative_motion(poses[0], poses[1]), relative_motion(poses[2], poses[3]), noise_floor_m)
        )
    return out


def aggregate_pose(errors: Sequence[RelativePoseError | None]) -> dict[str, float | int | None]:
    """Means over pairs.

    Args:
        errors: one entry per candidate pair; ``None`` for a pair that could not be scored.

    Returns:
        ``rot_err_deg`` (mean over scored pairs), ``tdir_err_deg`` (mean over pairs where it is defined),
        ``n_pairs`` (scored), ``n_tdir_pairs``, ``n_tdir_skipped_small_gt_motion``, ``n_tdir_skipped_zero_estimate``,
        ``n_skipped_pairs`` (``None`` entries), ``rot_err_deg_median``, ``tdir_err_deg_median``, and the rotation
        error split by ground-truth motion: ``rot_err_deg_moving`` / ``n_moving_pairs`` over pairs whose ground-truth
        translation reaches the noise floor, ``rot_err_deg_static`` / ``n_static_pairs`` over the others (on those
        a no-motion prediction is near-perfect, so a pooled mean over a mostly static sequence mostly measures
        drift at rest). Means of empty sets are ``None``.
    """
    scored = [e for e in errors if e is not None]
    rot = [e.rot_err_deg for e in scored]
    static, moving = [], []
    for e in scored:
        (moving if e.moving else static).append(e.rot_err_deg)
    tdir = [e.tdir_err_deg for e in scored if e.tdir_err_deg is not None]
    return {
        "rot_err_deg": float(np.mean(rot)) if rot else None,
        "tdir_err_deg": float(np.mean(tdir)) if tdir else None,
        "rot_err_deg_median": float(np.median(rot)) if rot else None,
        "tdir_err_deg_median": float(np.median(tdir)) if tdir else None,
        "rot_err_deg_moving": float(np.mean(moving)) if moving else None,
        "rot_err_deg_static": float(np.mean(static)) if static else None,
        "n_pairs": len(scored),
        "n_moving_pairs": len(moving),
        "n_static_pairs": len(static),
        "n_tdir_pairs": len(tdir),
        "n_tdir_skipped_small_gt_motion": len(static),
        "n_tdir_skipped_zero_estimate": sum(e.tdir_skip_reason == "est_translation_zero" for e in scored),
        "n_skipped_pairs": len(errors) - len(scored),
    }


@dataclass(frozen=True)
class AteResult:
    """Absolute trajectory error after Sim(3) alignment.

    Attributes:
        rmse_m: RMSE of position differences, metres; ``None`` when alignment was impossible.
        n_poses: number of poses used.
        scale: Sim(3) scale applied to the estimate (``None`` when not aligned).
        positions_est_aligned: ``N×3`` aligned estimated positions in the GT world frame, metres (``None`` if not).
        positions_gt: ``N×3`` ground-truth positions, metres.
        reason: why ``rmse_m`` is ``None``.
    """

    rmse_m: float | None
    n_poses: int
    scale: float | None
    positions_est_aligned: np.ndarray | None
    positions_gt: np.ndarray
    reason: str | None = None

    def as_dict(self) -> dict[str, float | int | str | None]:
        """JSON-ready summary (positions left out)."""
        return {"ate_m": self.rmse_m, "n_poses": self.n_poses, "sim3_scale": self.scale, "reason": self.reason}


def ate_sim3(
    stamps: Sequence[float],
    T_est: Sequence[np.ndarray],
    T_gt: Sequence[np.ndarray],
    min_gt_spread_m: float = TRANSLATION_NOISE_FLOOR_M,
) -> AteResult:
    """ATE RMSE (metres) after Sim(3) Umeyama alignment of the estimate onto the ground truth, with evo.

    Args:
        stamps: ``N`` timestamps in seconds (strictly increasing), shared by both trajectories (already associated).
        T_est: ``N`` estimated poses ``T_odom_camera`` (4×4, any unit).
        T_gt: ``N`` ground-truth poses ``T_world_camera`` (4×4, metres).
        min_gt_spread_m: smallest RMS distance of the GT positions from their centroid for which the ATE is
            defined. Below it the camera is static within GT noise and a Sim(3) alignment can shrink any estimate
            onto the noise (scale -> 0), so the ATE would be meaningless.

    Returns:
        :class:`AteResult`; ``rmse_m`` is ``None`` (with ``reason``) with fewer than :data:`MIN_ATE_POSES` poses, a
        static ground truth, or a degenerate alignment (e.g. an estimate that does not move).

    Raises:
        ValueError: on lists of different length or malformed poses.
    """
    from evo.core import metrics, trajectory
    from evo.core.geometry import GeometryException
    from evo.main_ape import ape

    if not len(stamps) == len(T_est) == len(T_gt):
        raise ValueError(f"lengths differ: {len(stamps)} stamps, {len(T_est)} estimates, {len(T_gt)} GT poses")
    est = [_check_pose("T_est", T) for T in T_est]
    gt = [_check_pose("T_gt", T) for T in T_gt]
    positions_gt = np.array([T[:3, 3] for T in gt]).reshape(-1, 3)
    n = len(est)
    if n < MIN_ATE_POSES:
        return AteResult(None, n, None, None, positions_gt, f"fewer than {MIN_ATE_POSES} poses")
    spread = float(np.sqrt(np.mean(np.sum((positions_gt - positions_gt.mean(axis=0)) ** 2, axis=1))))
    if spread < min_gt_spread_m:
        return AteResult(
            None, n, None, None, positions_gt,
            f"ground truth static: position spread {spread * 1e3:.2f} mm < {min_gt_spread_m * 1e3:g} mm",
        )
    t = np.asarray(stamps, dtype=np.float64)
    traj_gt = trajectory.PoseTrajectory3D(poses_se3=copy.deepcopy(gt), timestamps=t.copy(), name="gt")
    traj_est = trajectory.PoseTrajectory3D(poses_se3=copy.deepcopy(est), timestamps=t.copy(), name="est")
    try:
        result = ape(traj_gt, traj_est, metrics.PoseRelation.translation_part, align=True, correct_scale=True)
    except GeometryException as err:
        return AteResult(None, n, None, None, positions_gt, f"Sim(3) alignment failed: {err}")
    rmse = float(result.stats["rmse"])
    sim3 = result.np_arrays["alignment_transformation_sim3"]
    # evo returns the Sim(3) as [[s·R, t], [0, 1]]: the scale is the cube root of the determinant of s·R.
    scale = float(np.cbrt(np.linalg.det(sim3[:3, :3])))
    if not np.isfinite(rmse):
        return AteResult(None, n, None, None, positions_gt, "Sim(3) alignment produced a non-finite error")
    return AteResult(rmse, n, scale, np.asarray(traj_est.positions_xyz).copy(), positions_gt)
