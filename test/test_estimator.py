"""Streaming estimator: first frame, pose chaining, resets, intrinsics smoothing and known K, backends."""

import cv2
import numpy as np
import pytest
import torch

from ss3d_core.backends import BackendUnavailable, create_backend
from ss3d_core.checkpoint import bundled_checkpoint
from ss3d_core.estimator import Estimator, EstimatorConfig, IntrinsicsSource, ResetReason, build_estimator
from ss3d_core.estimator.estimator import limit_cpu_threads
from ss3d_core.estimator.intrinsics_filter import IntrinsicsFilter
from ss3d_core.estimator.odometry import T_ODOM_OPTICAL_START, OdometryIntegrator

MS = 1_000_000


def test_stream_first_frame_then_chained_poses(tiny_checkpoint, sample_frames):
    est = build_estimator(str(tiny_checkpoint), backend="torch")
    first = est.estimate(sample_frames[0], 100 * MS)
    assert first.reset_reason is ResetReason.FIRST_FRAME and first.T_prev_cur is None and first.twist is None
    assert first.depth.shape == (64, 96) and first.depth.dtype == np.float32 and np.isfinite(first.depth).all()
    assert first.intrinsics_source is IntrinsicsSource.PRIOR
    np.testing.assert_allclose(first.T_odom_camera, T_ODOM_OPTICAL_START)
    # Square pixels at the 960×540 input: one focal length (geometric mean), then rescaled to the 96×64 depth size.
    f_input = np.sqrt(0.8 * 960 * 1.2 * 540)
    expected = [[f_input * 96 / 960, 0, 0.5 * 96 - 0.5], [0, f_input * 64 / 540, 0.5 * 64 - 0.5], [0, 0, 1]]
    np.testing.assert_allclose(first.K, expected)
    raw = build_estimator(str(tiny_checkpoint), backend="torch", config=EstimatorConfig(square_pixels=False))
    K_raw = raw.estimate(sample_frames[0], 0).K
    np.testing.assert_allclose(np.diag(K_raw)[:2], [0.8 * 96, 1.2 * 64])
    second = est.estimate(sample_frames[1], 140 * MS)
    assert second.reset_reason is None and second.dt_s == pytest.approx(0.04)
    np.testing.assert_allclose(second.T_odom_camera, T_ODOM_OPTICAL_START @ second.T_prev_cur, atol=1e-9)
    assert second.intrinsics_source is IntrinsicsSource.LEARNED
    third = est.estimate(sample_frames[2], 180 * MS)
    np.testing.assert_allclose(third.T_odom_camera, second.T_odom_camera @ third.T_prev_cur, atol=1e-9)
    assert est.counters["frames"] == 3 and est.counters["reset_first_frame"] == 1


def test_resets_on_backwards_stamp_gap_and_resolution_change(tiny_checkpoint, sample_frames):
    est = build_estimator(str(tiny_checkpoint), backend="torch", config=EstimatorConfig(gap_threshold_s=0.5))
    est.estimate(sample_frames[0], 1000 * MS)
    assert est.estimate(sample_frames[1], 900 * MS).reset_reason is ResetReason.STAMP_BACKWARDS
    assert est.estimate(sample_frames[1], 900 * MS).reset_reason is ResetReason.STAMP_BACKWARDS  # duplicate stamp
    gap = est.estimate(sample_frames[2], 2000 * MS)
    assert gap.reset_reason is ResetReason.STAMP_GAP and gap.segment == 3
    small = sample_frames[0][::2, ::2].copy()
    changed = est.estimate(small, 2040 * MS)
    assert changed.reset_reason is ResetReason.RESOLUTION_CHANGE and changed.input_size == (480, 270)
    np.testing.assert_allclose(changed.T_odom_camera, T_ODOM_OPTICAL_START)
    assert changed.intrinsics_source is IntrinsicsSource.PRIOR  # the intrinsics estimate restarts with the camera
    assert est.estimate(small, 2080 * MS).reset_reason is None
    assert est.counters["reset_stamp_backwards"] == 2 and est.counters["reset_stamp_gap"] == 1
    assert est.counters["reset_resolution_change"] == 1


def test_known_intrinsics_and_output_size(tiny_checkpoint, sample_frames):
    est = build_estimator(str(tiny_checkpoint), backend="torch", config=EstimatorConfig(output_size="input"))
    K_full = np.array([[700.0, 0, 479.5], [0, 700.0, 269.5], [0, 0, 1]])
    est.set_known_intrinsics(K_full, 960, 540)
    out = est.estimate(sample_frames[0], 0)
    assert out.depth.shape == (540, 960) and out.intrinsics_source is IntrinsicsSource.KNOWN
    np.testing.assert_allclose(out.K, K_full, atol=1e-9)
    with pytest.raises(ValueError):
        est.set_known_intrinsics(np.zeros((3, 3)), 960, 540)
    with pytest.raises(ValueError):
        est.estimate(np.zeros((0, 10, 3), np.uint8), 1)
    with pytest.raises(ValueError):
        est.estimate(np.zeros((10, 10), np.uint8), 1)


def test_metric_scale_scales_depth_and_translation(tiny_checkpoint, sample_frames):
    relative = build_estimator(str(tiny_checkpoint), backend="torch")
    metric = build_estimator(str(tiny_checkpoint), backend="torch", config=EstimatorConfig(metric_scale=2.5))
    for i, frame in enumerate(sample_frames[:2]):
        a, b = relative.estimate(frame, i * 40 * MS), metric.estimate(frame, i * 40 * MS)
    np.testing.assert_allclose(b.depth, 2.5 * a.depth, rtol=1e-5)
    np.testing.assert_allclose(b.T_prev_cur[:3, 3], 2.5 * a.T_prev_cur[:3, 3], rtol=1e-5, atol=1e-9)
    assert b.depth_unit == "metres" and a.depth_unit == "relative"


def test_intrinsics_filter_median_rejects_outliers_and_freezes():
    f = IntrinsicsFilter(np.array([0.8, 1.0, 0.5, 0.5]), window=5, freeze_after=6)
    for value in (0.70, 0.71, 5.0, 0.72, 0.69):
        f.update(np.array([value, 1.0, 0.5, 0.5]))
    assert f.estimate[0] == pytest.approx(0.71)
    f.update(np.array([np.nan, 1, 0.5, 0.5]))  # ignored
    f.update(np.array([0.73, 1, 0.5, 0.5]))
    assert f.frozen and f.num_updates == 6
    before = f.estimate.copy()
    f.update(np.array([9.0, 9, 0.5, 0.5]))
    np.testing.assert_allclose(f.estimate, before)
    with pytest.raises(ValueError):
        IntrinsicsFilter(np.array([0.8, -1, 0.5, 0.5]))


def test_odometry_integrator_stays_orthonormal():
    odo = OdometryIntegrator()
    step = np.eye(4)
    c, s = np.cos(0.01), np.sin(0.01)
    step[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    step[:3, 3] = [0, 0, 0.1]
    for _ in range(5000):
        T = odo.integrate(step)
    R = T[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    with pytest.raises(ValueError):
        odo.integrate(np.full((4, 4), np.nan))


def test_onnxruntime_backend_matches_torch(tiny_checkpoint, sample_frames):
    results = {}
    for name in ("torch", "onnxruntime"):
        backend, meta = create_backend(name, tiny_checkpoint)
        est = Estimator(backend, meta.intrinsics_prior)
        est.estimate(sample_frames[0], 0)
        results[name] = est.estimate(sample_frames[1], 40 * MS)
    np.testing.assert_allclose(results["onnxruntime"].depth, results["torch"].depth, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(results["onnxruntime"].T_prev_cur, results["torch"].T_prev_cur, atol=1e-5)
    np.testing.assert_allclose(results["onnxruntime"].K, results["torch"].K, rtol=1e-5)
    graph_dir = create_backend("onnxruntime", tiny_checkpoint)[0].graph_dir
    assert (graph_dir / "encoder.onnx").is_file(), "exported graphs are cached"


def test_estimator_caps_the_opencv_and_torch_thread_pools(tiny_checkpoint):
    before = cv2.getNumThreads(), torch.get_num_threads()
    try:
        cv2.setNumThreads(2)
        torch.set_num_threads(2)  # a known start above the cap, whatever the test session's default (conftest.py)
        build_estimator(str(tiny_checkpoint), backend="onnxruntime", num_threads=1)
        assert (cv2.getNumThreads(), torch.get_num_threads()) == (1, 1)
        with pytest.raises(ValueError, match="num_threads"):
            limit_cpu_threads(0)
    finally:
        cv2.setNumThreads(before[0])
        torch.set_num_threads(before[1])


def test_backend_selection_errors(tiny_checkpoint):
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend("tensorrt-typo", tiny_checkpoint)
    try:
        import torch

        if not torch.cuda.is_available():
            with pytest.raises(BackendUnavailable):
                create_backend("torch-cuda", tiny_checkpoint)
    except ImportError:
        pytest.skip("torch not installed")
    backend, _ = create_backend("auto", tiny_checkpoint)
    assert backend.name in ("onnxruntime-cpu", "torch-cpu", "torch-cuda")


@pytest.mark.parametrize("backend_name", ["torch", "onnxruntime"])
def test_camera_at_rest_does_not_drift(backend_name, sample_frames):
    """The bundled checkpoint on one real frame seen repeatedly (a robot standing still): the antisymmetric motion
    head predicts exactly no motion, so the odometry stays at its start pose."""
    est = build_estimator(str(bundled_checkpoint()), backend=backend_name)
    for i in range(4):
        estimate = est.estimate(sample_frames[0], i * 100 * MS)
    np.testing.assert_allclose(estimate.T_prev_cur, np.eye(4), atol=1e-6)
    np.testing.assert_allclose(estimate.T_odom_camera, T_ODOM_OPTICAL_START, atol=1e-5)
