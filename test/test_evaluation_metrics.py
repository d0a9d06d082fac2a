"""Pure evaluation metrics: depth (monodepth2 protocol), relative pose / ATE, intrinsics, five-point baseline."""

from __future__ import annotations

import numpy as np
import pytest
import transforms3d
from conftest import FIXTURES

from ss3d_core.camera import scale_K
from ss3d_core.geometry.relative_pose import relative_pose_from_matches
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_eval.baselines.constant_depth import constant_depth_prediction
from ss3d_eval.baselines.default_k import generic_guess_K
from ss3d_eval.depth_metrics import (
    INDOOR_DEPTH_CAP_M,
    OUTDOOR_DEPTH_CAP_M,
    aggregate_depth,
    depth_metrics,
    resize_depth,
    select_depth_cap,
)
from ss3d_eval.intrinsics_metrics import aggregate_intrinsics, intrinsics_errors
from ss3d_eval.pose_metrics import (
    aggregate_pose,
    ate_sim3,
    relative_motion,
    relative_pose_error,
    relative_pose_errors,
)

PAIR = FIXTURES / "tum_fr1_xyz_pair1"
ZERO_ERRORS = ("abs_rel", "sq_rel", "rmse", "rmse_log")


@pytest.fixture(scope="module")
def gt_depth() -> np.ndarray:
    """The real TUM fr1/xyz depth image, 480×640 float32 metres, NaN invalid."""
    return TumSequence.load(PAIR).read_depth_m(0)


def pose(R: np.ndarray | None = None, t=(0.0, 0.0, 0.0)) -> np.ndarray:
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    T[:3, 3] = t
    return T


def gt_trajectory(n: int = 6) -> list[np.ndarray]:
    """A curved, non-planar camera path (metres) with changing orientation."""
    return [
        pose(transforms3d.euler.euler2mat(0.05 * i, -0.03 * i, 0.02 * i), (0.1 * i, 0.02 * i**2, 0.05 * np.sin(i)))
        for i in range(n)
    ]


# --- depth ------------------------------------------------------------------------------------------------------
def test_gt_as_prediction_is_perfect(gt_depth):
    result = depth_metrics(gt_depth, gt_depth, cap_m=INDOOR_DEPTH_CAP_M)
    for key in ZERO_ERRORS:
        assert getattr(result, key) == pytest.approx(0.0, abs=1e-9)
    assert result.delta1 == result.delta2 == result.delta3 == 1.0
    assert result.scale_ratio == pytest.approx(1.0)
    assert result.n_valid_px == int(np.sum(np.isfinite(gt_depth) & (gt_depth > 1e-3)))


def test_known_scale_is_removed_by_median_scaling(gt_depth):
    result = depth_metrics(gt_depth * 3.0, gt_depth, cap_m=INDOOR_DEPTH_CAP_M)
    assert result.scale_ratio == pytest.approx(1.0 / 3.0)
    for key in ZERO_ERRORS:
        assert getattr(result, key) == pytest.approx(0.0, abs=1e-6)
    assert result.delta1 == 1.0
    agg = aggregate_depth([result, depth_metrics(gt_depth * 3.0, gt_depth, INDOOR_DEPTH_CAP_M)])
    assert agg["scale_ratio_median"] == pytest.approx(1.0 / 3.0)
    assert agg["scale_ratio_spread"] == pytest.approx(0.0, abs=1e-9)


def test_invalid_gt_pixels_are_excluded(gt_depth):
    gt = gt_depth.copy()
    gt[:100] = 0.0  # raw 0 (TUM invalid)
    gt[100:200] = np.nan  # REP 118 invalid
    pred = gt_depth.copy()
    pred[:200] = 1234.0  # garbage where the GT is invalid must not count
    result = depth_metrics(pred, gt, cap_m=INDOOR_DEPTH_CAP_M)
    assert result.abs_rel == pytest.approx(0.0, abs=1e-9)
    assert result.n_valid_px == int(np.sum(np.isfinite(gt[200:]) & (gt[200:] > 1e-3)))


def test_depth_beyond_cap_is_excluded_and_prediction_clamped():
    gt = np.full((4, 4), 2.0)
    gt[0] = 50.0  # beyond the indoor cap: excluded
    pred = np.full((4, 4), 2.0)
    pred[1, 0] = 1000.0  # scored pixel: clamped to the cap after scaling
    result = depth_metrics(pred, gt, cap_m=10.0)
    assert result.n_valid_px == 12
    assert result.abs_rel == pytest.approx((10.0 - 2.0) / 2.0 / 12)


def test_no_valid_pixel_gives_none_and_null_aggregate():
    assert depth_metrics(np.ones((3, 3)), np.zeros((3, 3)), cap_m=10.0) is None
    assert depth_metrics(np.ones((3, 3)), np.full((3, 3), np.nan), cap_m=10.0) is None
    agg = aggregate_depth([None])
    assert agg["abs_rel"] is None and agg["delta1"] is None and agg["scale_ratio_spread"] is None
    assert agg["n_images"] == 0 and agg["n_skipped_no_valid_gt"] == 1


def test_prediction_is_resized_to_gt_resolution():
    rows = np.linspace(1.0, 3.0, 96)[:, None] * np.ones((1, 128))
    low = rows[::4, ::4]  # 24×32 prediction of the same scene
    up = resize_depth(low, rows.shape)
    assert up.shape == rows.shape
    result = depth_metrics(low, rows, cap_m=10.0)
    assert result.abs_rel < 0.02 and result.delta1 == 1.0


def test_constant_depth_baseline_equals_gt_median(gt_depth):
    pred = constant_depth_prediction(*gt_depth.shape)
    result = depth_metrics(pred, gt_depth, cap_m=INDOOR_DEPTH_CAP_M)
    valid = np.isfinite(gt_depth) & (gt_depth > 1e-3)
    median = np.median(gt_depth[valid])
    assert result.scale_ratio == pytest.approx(median)
    assert result.abs_rel == pytest.approx(np.mean(np.abs(gt_depth[valid] - median) / gt_depth[valid]), rel=1e-6)


def test_select_depth_cap_rules(gt_depth):
    assert select_depth_cap([gt_depth], override_m=5.0, calib_cap_m=20.0) == (5.0, "--depth-cap-m")
    assert select_depth_cap([gt_depth], calib_cap_m=20.0)[0] == 20.0
    cap, reason = select_depth_cap([gt_depth])
    assert cap == INDOOR_DEPTH_CAP_M and reason.startswith("indoor")
    assert select_depth_cap([np.full((4, 4), 40.0)])[0] == OUTDOOR_DEPTH_CAP_M
    assert select_depth_cap([np.zeros((4, 4))])[0] == OUTDOOR_DEPTH_CAP_M
    with pytest.raises(ValueError):
        select_depth_cap([], override_m=0.0)


# --- pose -------------------------------------------------------------------------------------------------------
def test_gt_as_estimate_gives_zero_pose_errors():
    traj = gt_trajectory()
    errors = relative_pose_errors(traj, traj)
    agg = aggregate_pose(errors)
    assert agg["n_pairs"] == len(traj) - 1
    assert agg["rot_err_deg"] == pytest.approx(0.0, abs=1e-6)
    assert agg["tdir_err_deg"] == pytest.approx(0.0, abs=1e-5)
    ate = ate_sim3(np.arange(len(traj), dtype=float), traj, traj)
    assert ate.rmse_m == pytest.approx(0.0, abs=1e-9)
    assert ate.scale == pytest.approx(1.0)


def test_known_rotation_perturbation():
    T_gt = relative_motion(*gt_trajectory(2))
    R_perturb = transforms3d.axangles.axangle2mat([0.3, -1.0, 0.5], np.radians(2.0))
    T_est = T_gt.copy()
    T_est[:3, :3] = T_gt[:3, :3] @ R_perturb
    err = relative_pose_error(T_est, T_gt)
    assert err.rot_err_deg == pytest.approx(2.0, abs=1e-6)
    assert err.tdir_err_deg == pytest.approx(0.0, abs=1e-6)


def test_known_translation_direction_perturbation_and_scale_invariance():
    T_gt = relative_motion(*gt_trajectory(2))
    T_est = T_gt.copy()
    axis = np.cross(T_gt[:3, 3], [0.0, 0.0, 1.0])  # any axis orthogonal to t_gt
    T_est[:3, 3] = 7.0 * transforms3d.axangles.axangle2mat(axis, np.radians(5.0)) @ T_gt[:3, 3]
    err = relative_pose_error(T_est, T_gt)
    assert err.tdir_err_deg == pytest.approx(5.0, abs=1e-6)
    assert err.rot_err_deg == pytest.approx(0.0, abs=1e-6)


def test_translation_below_noise_floor_is_skipped_and_counted():
    T_gt = pose(t=(0.001, 0.0, 0.0))  # 1 mm: below the 5 mm floor
    err = relative_pose_error(pose(t=(1.0, 0.0, 0.0)), T_gt)
    assert err.tdir_err_deg is None and err.tdir_skip_reason == "gt_below_noise_floor"
    agg = aggregate_pose([err])
    assert agg["tdir_err_deg"] is None and agg["n_tdir_skipped_small_gt_motion"] == 1 and agg["n_pairs"] == 1


def test_rotation_error_split_by_ground_truth_motion():
    """A static pair (1 mm) and a moving pair (10 cm) with known rotation errors of 1° and 3°."""
    def rotated(deg: float) -> np.ndarray:
        return transforms3d.axangles.axangle2mat([0.0, 1.0, 0.0], np.radians(deg))

    static = relative_pose_error(pose(rotated(1.0), (0.001, 0.0, 0.0)), pose(t=(0.001, 0.0, 0.0)))
    moving = relative_pose_error(pose(rotated(3.0), (0.1, 0.0, 0.0)), pose(t=(0.1, 0.0, 0.0)))
    agg = aggregate_pose([static, moving, None])
    assert agg["rot_err_deg_static"] == pytest.approx(1.0) and agg["n_static_pairs"] == 1
    assert agg["rot_err_deg_moving"] == pytest.approx(3.0) and agg["n_moving_pairs"] == 1
    assert agg["rot_err_deg"] == pytest.approx(2.0) and agg["n_pairs"] == 2
    only_static = aggregate_pose([static])
    assert only_static["rot_err_deg_moving"] is None and only_static["n_moving_pairs"] == 0


def test_missing_gt_poses_skip_pairs():
    traj = gt_trajectory(4)
    gt = [traj[0], None, traj[2], traj[3]]
    errors = relative_pose_errors(traj, gt)
    assert errors[0] is None and errors[1] is None and errors[2] is not None
    agg = aggregate_pose(errors)
    assert agg["n_pairs"] == 1 and agg["n_skipped_pairs"] == 2
    empty = aggregate_pose([None])
    assert empty["rot_err_deg"] is None and empty["tdir_err_deg"] is None and empty["n_pairs"] == 0


def test_ate_is_invariant_to_a_similarity_transform():
    traj = gt_trajectory()
    S = pose(transforms3d.euler.euler2mat(0.3, 1.0, -0.2), (4.0, -2.0, 1.0))
    est = []
    for T in traj:
        T_est = S @ T
        T_est[:3, 3] = S[:3, :3] @ (0.25 * T[:3, 3]) + S[:3, 3]  # scale 1/4 then rigid transform
        est.append(T_est)
    ate = ate_sim3(np.arange(len(traj), dtype=float), est, traj)
    assert ate.rmse_m == pytest.approx(0.0, abs=1e-9)
    assert ate.scale == pytest.approx(4.0)
    assert ate.positions_est_aligned.shape == (len(traj), 3)


def test_ate_needs_three_poses_and_a_moving_estimate():
    traj = gt_trajectory(3)
    assert ate_sim3([0.0, 1.0], traj[:2], traj[:2]).rmse_m is None
    static = ate_sim3([0.0, 1.0, 2.0], [np.eye(4)] * 3, traj)
    assert static.rmse_m is None and "alignment" in static.reason
    # A GT that does not move (within the 5 mm floor): Sim(3) would shrink any estimate onto the noise.
    still_gt = [pose(t=(0.001 * i, 0.0, 0.0)) for i in range(3)]
    still = ate_sim3([0.0, 1.0, 2.0], traj, still_gt)
    assert still.rmse_m is None and "static" in still.reason


# --- intrinsics -------------------------------------------------------------------------------------------------
def test_intrinsics_errors_across_resolutions():
    K = np.array([[517.3, 0.0, 318.6], [0.0, 516.5, 255.3], [0.0, 0.0, 1.0]])
    K_small = scale_K(K, (640, 480), (224, 128))
    errors = intrinsics_errors(K_small, (224, 128), K, (640, 480))
    for key in ("fx", "fy", "cx", "cy"):
        assert errors[f"{key}_rel_err"] == pytest.approx(0.0, abs=1e-12)
    K_wrong = K.copy()
    K_wrong[0, 0] *= 1.1
    assert intrinsics_errors(K_wrong, (640, 480), K, (640, 480))["fx_rel_err"] == pytest.approx(0.1)
    agg = aggregate_intrinsics([errors, None])
    assert agg["n_sequences"] == 1 and agg["fx_rel_err"] == pytest.approx(0.0)
    assert aggregate_intrinsics([])["fx_rel_err"] is None


def test_generic_guess_K():
    K = generic_guess_K(640, 480)
    assert K[0, 0] == K[1, 1] == pytest.approx(512.0)
    assert (K[0, 2], K[1, 2]) == (319.5, 239.5)  # image centre under the pixel-centre convention


# --- five-point baseline ----------------------------------------------------------------------------------------
def test_five_point_recovers_synthetic_motion_in_estimator_convention():
    rng = np.random.default_rng(0)
    K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
    points_prev = np.c_[rng.uniform(-2, 2, 300), rng.uniform(-1.5, 1.5, 300), rng.uniform(3, 10, 300)]
    T_prev_cur = pose(transforms3d.euler.euler2mat(0.04, -0.08, 0.02), (0.3, -0.05, 0.4))
    T_cur_prev = np.linalg.inv(T_prev_cur)
    points_cur = points_prev @ T_cur_prev[:3, :3].T + T_cur_prev[:3, 3]

    def project(points):
        uv = points @ K.T
        return uv[:, :2] / uv[:, 2:]

    result = relative_pose_from_matches(project(points_prev), project(points_cur), K)
    assert result.failure is None and result.n_inliers > 250
    err = relative_pose_error(result.T_prev_cur, T_prev_cur)
    assert err.rot_err_deg < 0.1
    assert err.tdir_err_deg < 1.0
    assert np.linalg.norm(result.T_prev_cur[:3, 3]) == pytest.approx(1.0)


def test_five_point_reports_too_few_matches_instead_of_raising():
    K = generic_guess_K(640, 480)
    result = relative_pose_from_matches(np.zeros((3, 2)), np.zeros((3, 2)), K)
    assert result.T_prev_cur is None and result.failure == "too_few_matches"
