"""``ss3d_eval``: the sequence runner (protocol edge cases), the report (shape, nulls, no NaN), the CLI end to end."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import transforms3d
from conftest import FIXTURES, NEEDS_SHARED, SHARED_DATA

from ss3d_core.camera import scale_K
from ss3d_core.estimator import IntrinsicsSource
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_core.sfm import runner as sfm_runner
from ss3d_core.sfm.reconstruction import SfmReconstruction
from ss3d_eval.baselines import colmap_selfcalib
from ss3d_eval.cli import main
from ss3d_eval.pose_metrics import relative_motion
from ss3d_eval.report import build_report, render_markdown, to_jsonable, write_json
from ss3d_eval.sequence_runner import GAP_FRAME_PERIODS, RunOptions, auto_gap_threshold_s, run_sequence

PAIR = FIXTURES / "tum_fr1_xyz_pair1"  # 2 real frames, depth for the first, mocap GT for both
NO_COLMAP = RunOptions(colmap=False)
AGGREGATE_KEYS = {
    "depth": {"abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3", "n_images"},
    "pose": {"rot_err_deg", "tdir_err_deg", "n_pairs", "ate_m"},
    "intrinsics": {"fx_rel_err", "fy_rel_err", "cx_rel_err", "cy_rel_err", "n_sequences"},
}


@dataclass
class _Estimate:
    """The attributes of ``FrameEstimate`` that the runner reads."""

    depth: np.ndarray
    T_prev_cur: np.ndarray | None
    T_odom_camera: np.ndarray
    K: np.ndarray
    intrinsics_source: IntrinsicsSource
    input_size: tuple[int, int]
    segment: int = 0
    inference_ms: float = 0.0
    T_prev_cur_network: np.ndarray | None = None
    geometry_ms: float = 0.0


class OracleEstimator:
    """Test double that "predicts" the ground truth of a sequence: depth ×``depth_scale``, GT motion (from both pose
    sources), calibrated K."""

    def __init__(self, sequence: TumSequence, depth_scale: float = 1.0):
        self.sequence = sequence
        self.depth_scale = depth_scale
        self.counters: Counter[str] = Counter()
        self._index = 0

    def estimate(self, image: np.ndarray, stamp_ns: int) -> _Estimate:
        seq, i = self.sequence, self._index
        self._index += 1
        self.counters["frames"] += 1
        d = seq.depth_index_for_frame(i)
        depth = seq.read_depth_m(d) * self.depth_scale if d is not None else np.ones(image.shape[:2], np.float32)
        gt, gt_prev = seq.gt_pose_for_frame(i), seq.gt_pose_for_frame(i - 1) if i else None
        T_prev_cur = relative_motion(gt_prev, gt) if gt is not None and gt_prev is not None else None
        calib = seq.calibration
        h, w = depth.shape
        K = scale_K(calib.K, (calib.width, calib.height), (w, h))
        return _Estimate(depth, T_prev_cur, gt if gt is not None else np.eye(4), K, IntrinsicsSource.KNOWN,
                         (image.shape[1], image.shape[0]), T_prev_cur_network=T_prev_cur)

    def close(self) -> None:
        """Nothing to stop (the estimator's interface)."""


def copy_sequence(tmp_path: Path, name: str = "seq") -> Path:
    """A writable copy of the fixture pair to edit per test."""
    target = tmp_path / name
    shutil.copytree(PAIR, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def oracle_run(root: Path, depth_scale: float = 1.0, options: RunOptions = NO_COLMAP):
    sequence = TumSequence.load(root)
    return run_sequence(sequence, lambda config: OracleEstimator(sequence, depth_scale), options)


# --- runner -----------------------------------------------------------------------------------------------------
def test_oracle_scores_perfectly_on_real_pair():
    outcome = oracle_run(PAIR, depth_scale=3.0)
    result = outcome.result
    depth, pose, intrinsics = result["depth"], result["pose"], result["intrinsics"]
    assert depth["n_images"] == 1 and depth["cap_m"] == 10.0 and depth["cap_rule"].startswith("indoor")
    assert depth["abs_rel"] == pytest.approx(0.0, abs=1e-6) and depth["delta1"] == 1.0
    assert depth["scale_ratio_median"] == pytest.approx(1.0 / 3.0)
    cues = depth["per_image"][0]["cues"]  # the oracle's depth is the ground truth: it follows every cue the same way
    assert cues["model"]["with_gt"] == pytest.approx(1.0)
    for cue in ("with_brightness", "with_row"):
        assert cues["model"][cue] == pytest.approx(cues["ground_truth"][cue], abs=1e-6)
    assert pose["n_pairs"] == 1 and pose["n_tdir_pairs"] == 1
    assert pose["rot_err_deg"] == pytest.approx(0.0, abs=1e-5)
    assert pose["tdir_err_deg"] == pytest.approx(0.0, abs=1e-4)
    assert pose["ate_m"] is None  # 2 poses: no Sim(3) alignment
    for source in ("network", "geometric"):  # both pose sources scored on the same pair, each its own row
        row = result["baselines"][source]["pose"]
        assert row["n_pairs"] == 1 and row["rot_err_deg"] == pytest.approx(0.0, abs=1e-5) and row["ate_m"] is None
    for key in ("fx", "fy", "cx", "cy"):
        assert intrinsics[f"{key}_rel_err"] == pytest.approx(0.0, abs=1e-9)
    assert result["distorted"] is True
    # The real baselines on the same pair: the calibrated five-point pose is accurate.
    five = result["baselines"]["five_point_calibrated"]["pose"]
    assert five["n_pairs"] == 1 and five["n_failed_pairs"] == 0 and five["rot_err_deg"] < 2.0
    constant = result["baselines"]["constant_depth"]["depth"]
    assert constant["n_images"] == 1 and constant["abs_rel"] > 0.05
    assert result["baselines"]["default_k"]["intrinsics"]["fx_rel_err"] == pytest.approx(abs(512 - 517.3) / 517.3)
    paired = build_report("oracle", [outcome])["baselines"]["five_point_calibrated"]["paired_with_model"]
    assert paired["n_pairs"] == 1 and paired["model_rot_err_deg"] == pytest.approx(0.0, abs=1e-5)
    assert paired["baseline_rot_err_deg"] == pytest.approx(five["rot_err_deg"])
    # Per-item results, so that two reports can be compared item by item (ss3d_eval.compare).
    assert result["group"] == "tum"
    (pair,) = pose["per_pair"]
    assert pair["frame"] == 1 and pair["moving"] and pair["rot_err_deg"] == pytest.approx(0.0, abs=1e-5)
    assert five["per_pair"][0]["rot_err_deg"] == pytest.approx(five["rot_err_deg"])
    assert constant["per_image"][0]["abs_rel"] == pytest.approx(constant["abs_rel"])


def test_aggregates_weigh_each_group_equally(tmp_path):
    """Two TUM sequences and one of another group: the aggregate is the mean of the two group means, not the mean
    over the three images (ss3d_eval.groups)."""
    outcomes = [oracle_run(PAIR, depth_scale=3.0), oracle_run(PAIR, depth_scale=3.0)]
    for outcome, abs_rel in zip(outcomes, (0.1, 0.3)):
        outcome.depth = [replace(outcome.depth[0], abs_rel=abs_rel)]
    other = oracle_run(copy_sequence(tmp_path, "nyu_like"), depth_scale=3.0)
    other.depth = [replace(other.depth[0], abs_rel=0.6)]
    outcomes[1].name = "tum_second"
    report = build_report("oracle", [*outcomes, other])
    assert report["groups"]["depth"]["tum"]["abs_rel"] == pytest.approx(0.2)
    assert report["groups"]["depth"]["nyu"]["n_images"] == 1
    depth = report["aggregate"]["depth"]
    assert depth["abs_rel"] == pytest.approx((0.2 + 0.6) / 2) and depth["n_images"] == 3 and depth["n_groups"] == 2
    assert "each group equally" in depth["weighting"]
    assert "| tum | 2 | 0.200 |" in render_markdown(report)


def test_missing_gt_timestamps_skip_pairs(tmp_path):
    root = copy_sequence(tmp_path)
    lines = (root / "groundtruth.txt").read_text().splitlines()
    (root / "groundtruth.txt").write_text("\n".join(lines[:2]) + "\n")  # header + first pose only
    pose = oracle_run(root).result["pose"]
    assert pose["n_pairs"] == 0 and pose["n_pairs_missing_gt"] == 1
    assert pose["rot_err_deg"] is None and pose["tdir_err_deg"] is None and pose["ate_m"] is None


def test_sequence_without_depth_still_scores_pose(tmp_path):
    root = copy_sequence(tmp_path)
    (root / "depth.txt").unlink()
    result = oracle_run(root).result
    assert result["depth"] is None and result["baselines"]["constant_depth"]["depth"] is None
    assert result["pose"]["n_pairs"] == 1 and result["pose"]["rot_err_deg"] == pytest.approx(0.0, abs=1e-5)


def test_depth_image_without_valid_pixel_is_skipped_and_counted(tmp_path):
    import cv2

    root = copy_sequence(tmp_path)
    depth_png = next((root / "depth").glob("*.png"))
    cv2.imwrite(str(depth_png), np.zeros((480, 640), np.uint16))
    depth = oracle_run(root, options=RunOptions(colmap=False, depth_cap_m=10.0)).result["depth"]
    assert depth["n_images"] == 0 and depth["n_skipped_no_valid_gt"] == 1
    assert depth["abs_rel"] is None and depth["delta1"] is None
    assert depth["per_image"][0]["skipped"] is True


def test_one_frame_sequence_with_the_real_estimator(tiny_checkpoint):
    from ss3d_core.backends import create_backend
    from ss3d_core.estimator import Estimator

    backend, metadata = create_backend("torch", tiny_checkpoint)
    sequence = TumSequence.load(PAIR)
    outcome = run_sequence(sequence, lambda config: Estimator(backend, metadata.intrinsics_prior, config),
                           RunOptions(colmap=False, max_frames=1))
    result = outcome.result
    assert result["n_frames"] == 1 and result["depth"]["n_images"] == 1
    assert result["pose"]["n_pairs"] == 0 and result["pose"]["rot_err_deg"] is None
    assert result["intrinsics"]["intrinsics_source"] == "prior"
    assert result["intrinsics"]["K_size"] == [96, 64]
    # The prior (0.8, 1.2, 0.5, 0.5) at 640×480 is fx = 512, fy = 576 px; with square pixels (EstimatorConfig
    # default) both become their geometric mean.
    assert result["intrinsics"]["fx_est"] == pytest.approx(np.sqrt(512.0 * 576.0))


def _gt_rotation_angle_deg(root: Path) -> float:
    """Rotation angle between the first two ``groundtruth.txt`` poses, from the quaternions (independent of the
    evaluator's matrix path): ``q_rel = conj(q_prev) · q_cur``, angle ``2·acos(|w|)``."""
    rows = [ln.split() for ln in (root / "groundtruth.txt").read_text().splitlines() if not ln.startswith("#")]
    q_prev, q_cur = ([float(r[7]), *map(float, r[4:7])] for r in rows[:2])  # file: qx qy qz qw -> (w, x, y, z)
    q_rel = transforms3d.quaternions.qmult(transforms3d.quaternions.qconjugate(q_prev), q_cur)
    q_rel = np.asarray(q_rel) / np.linalg.norm(q_rel)
    return float(np.degrees(2.0 * np.arccos(min(1.0, abs(q_rel[0])))))


def test_identity_pose_baseline_scores_the_gt_rotation_on_the_model_pairs():
    outcome = oracle_run(PAIR)
    angle_deg = _gt_rotation_angle_deg(PAIR)
    assert angle_deg > 0.1  # the fixture pair really rotates, so the check is not trivially 0 == 0
    identity = outcome.result["baselines"]["identity_pose"]["pose"]
    assert identity["n_pairs"] == outcome.result["pose"]["n_pairs"] == 1 and identity["n_failed_pairs"] == 0
    assert identity["rot_err_deg"] == pytest.approx(angle_deg, abs=1e-4)
    # Zero translation has no direction: null, and the pair counted as skipped with the shared reason.
    assert identity["tdir_err_deg"] is None and identity["n_tdir_pairs"] == 0
    assert identity["n_tdir_skipped_zero_estimate"] == 1
    report = build_report("oracle", [outcome])
    agg = report["baselines"]["identity_pose"]
    assert agg["pose"]["rot_err_deg"] == pytest.approx(angle_deg, abs=1e-4) and agg["pose"]["tdir_err_deg"] is None
    paired = agg["paired_with_model"]
    assert paired["n_pairs"] == 1 and paired["model_rot_err_deg"] == pytest.approx(0.0, abs=1e-5)
    assert paired["baseline_rot_err_deg"] == pytest.approx(angle_deg, abs=1e-4) and paired["n_tdir_pairs"] == 0
    markdown = render_markdown(report)
    assert "| metric | model | constant_depth | network | geometric | identity_pose |" in markdown
    assert "identity rot (°)" in markdown


def test_auto_gap_threshold_rule():
    floor_s = 0.5
    assert auto_gap_threshold_s(np.arange(10) / 30.0, floor_s) == floor_s  # 30 Hz: 0.1 s < floor
    assert auto_gap_threshold_s(np.arange(10) * 1.0, floor_s) == pytest.approx(GAP_FRAME_PERIODS * 1.0)
    # One dropped stretch does not move the median.
    assert auto_gap_threshold_s([0.0, 1.0, 2.0, 10.0, 11.0], floor_s) == pytest.approx(GAP_FRAME_PERIODS * 1.0)
    assert auto_gap_threshold_s([5.0], floor_s) == floor_s and auto_gap_threshold_s([], floor_s) == floor_s


def one_hz_sequence(tmp_path: Path) -> Path:
    """The fixture pair re-stamped 1 s apart (a 1 Hz stream); GT and depth stamps follow the images."""
    root = copy_sequence(tmp_path, "one_hz")
    for name in ("rgb.txt", "groundtruth.txt"):
        lines = (root / name).read_text().splitlines()
        rows = [i for i, ln in enumerate(lines) if not ln.startswith("#")]
        first, second = rows[0], rows[1]
        t0 = float(lines[first].split()[0])
        lines[second] = f"{t0 + 1.0:.6f} " + lines[second].split(maxsplit=1)[1]
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def test_auto_gap_threshold_keeps_a_1hz_sequence_in_one_segment(tiny_checkpoint, tmp_path):
    root = one_hz_sequence(tmp_path)
    common = ["--checkpoint", str(tiny_checkpoint), "--sequences", str(root), "--backend", "torch",
              "--no-colmap", "--figures", "0"]
    auto_out = tmp_path / "auto" / "report.json"
    assert main([*common, "--output", str(auto_out)]) == 0
    report = json.loads(auto_out.read_text())
    seq = report["sequences"]["one_hz"]
    assert report["settings"]["estimator"]["gap_threshold_s"] == "auto"
    assert seq["settings"]["gap_threshold_s"] == pytest.approx(GAP_FRAME_PERIODS * 1.0)
    assert seq["settings"]["median_frame_interval_s"] == pytest.approx(1.0)
    assert "reset_stamp_gap" not in seq["estimator"]["counters"]
    assert seq["pose"]["n_pairs"] == 1 and seq["intrinsics"]["intrinsics_source"] == "learned"

    # An explicit threshold overrides the rule for every sequence: the 1 s gap restarts odometry again.
    fixed_out = tmp_path / "fixed" / "report.json"
    assert main([*common, "--output", str(fixed_out), "--gap-threshold-s", "0.5"]) == 0
    report = json.loads(fixed_out.read_text())
    seq = report["sequences"]["one_hz"]
    assert report["settings"]["estimator"]["gap_threshold_s"] == 0.5
    assert seq["settings"]["gap_threshold_s"] == 0.5 and seq["settings"]["gap_threshold_rule"] == "fixed"
    assert seq["estimator"]["counters"]["reset_stamp_gap"] == 1
    assert seq["pose"]["n_pairs"] == 0 and seq["pose"]["n_pairs_no_estimate"] == 1
    assert seq["intrinsics"]["intrinsics_source"] == "prior"
    assert any("restarted odometry 1 time(s)" in note for note in report["notes"])
    # The identity baseline does not depend on the model's restarts: it still scores the GT pair.
    assert seq["baselines"]["identity_pose"]["pose"]["n_pairs"] == 1


def test_colmap_baseline_unavailable_or_skipped(monkeypatch):
    frames = [np.zeros((48, 64, 3), np.uint8)] * 5
    result, model = colmap_selfcalib.colmap_selfcalibration(iter(frames[:2]), 2)
    assert result["status"] in {"skipped", "unavailable"} and model is None
    monkeypatch.setattr(sfm_runner.importlib.util, "find_spec", lambda name: None)
    result, model = colmap_selfcalib.colmap_selfcalibration(iter(frames), 5)
    assert result["status"] == "unavailable" and "pycolmap" in result["reason"] and model is None


@pytest.mark.parametrize("registered", [(True, True), (True, False)])
def test_colmap_poses_are_scored_on_the_models_pairs(monkeypatch, registered):
    """COLMAP's ``T_camera_world`` becomes ``T_prev_cur`` on the model's GT pairs: poses equal to the ground truth
    score zero, a pair with an unregistered frame counts as failed, and the report carries its row."""
    sequence = TumSequence.load(PAIR)
    gt = [sequence.gt_pose_for_frame(i) for i in range(2)]
    T_camera_world = np.stack([np.linalg.inv(T) for T in gt])
    T_camera_world[~np.array(registered)] = np.nan
    calib = sequence.calibration
    stats = {"registered": sum(registered), "models": 1, "seconds": 1.0, "points_per_image": 0.0,
             "median_track_length": 3.0, "median_triangulation_angle_deg": 1.0, "mean_reprojection_error_px": 0.5}
    model = SfmReconstruction(calib.K, calib.width, calib.height, T_camera_world, np.array(registered),
                              np.zeros((0, 3), np.float32), np.zeros(3, np.int64), stats)

    def fake_colmap(frames, n_frames, timeout_s):
        assert len(list(frames)) == n_frames == 2
        result = {"status": "ok", "fx": calib.K[0, 0], "fy": calib.K[1, 1], "cx": calib.K[0, 2],
                  "cy": calib.K[1, 2], "width": calib.width, "height": calib.height, "n_images": 2,
                  "n_registered": sum(registered), **stats}
        return result, model

    monkeypatch.setattr(colmap_selfcalib, "colmap_selfcalibration", fake_colmap)
    outcome = oracle_run(PAIR, options=RunOptions())
    run = outcome.result["baselines"]["colmap_selfcalib"]
    assert run["intrinsics"]["fx_rel_err"] == pytest.approx(0.0, abs=1e-12)
    report = build_report("oracle", [outcome])
    colmap = report["baselines"]["colmap_selfcalib"]
    if all(registered):
        assert run["pose"]["n_pairs"] == 1 and run["pose"]["rot_err_deg"] == pytest.approx(0.0, abs=1e-6)
        assert run["pose"]["tdir_err_deg"] == pytest.approx(0.0, abs=1e-4)
        assert colmap["paired_with_model"]["n_pairs"] == 1
    else:
        assert run["pose"]["n_pairs"] == 0 and run["pose"]["n_failed_pairs"] == 1
    assert colmap["pose"]["n_failed_pairs"] == (0 if all(registered) else 1)
    assert colmap["per_sequence"][PAIR.name]["n_registered"] == sum(registered)
    markdown = render_markdown(report)
    assert "| colmap_selfcalib | " in markdown and "## COLMAP, the SfM teacher, per sequence" in markdown


# --- report -----------------------------------------------------------------------------------------------------
def test_report_shape_nulls_and_no_nan(tmp_path):
    root = copy_sequence(tmp_path)
    (root / "depth.txt").unlink()
    (root / "groundtruth.txt").unlink()
    bare = oracle_run(root)  # no depth, no GT: only intrinsics
    report = build_report("ckpt", [bare], {"note": float("nan")})
    assert set(report) >= {"checkpoint", "sequences", "aggregate", "baselines"}
    for section, keys in AGGREGATE_KEYS.items():
        assert keys <= set(report["aggregate"][section])
    assert report["aggregate"]["depth"]["abs_rel"] is None and report["aggregate"]["depth"]["n_images"] == 0
    assert report["aggregate"]["pose"]["rot_err_deg"] is None and report["aggregate"]["pose"]["ate_m"] is None
    assert report["aggregate"]["intrinsics"]["n_sequences"] == 1
    assert report["sequences"]["seq"]["depth"] is None and report["sequences"]["seq"]["pose"] is None
    assert set(report["baselines"]) == {"constant_depth", "network", "geometric", "identity_pose",
                                        "five_point_calibrated", "five_point_guess_k", "default_k", "corpus_k",
                                        "colmap_selfcalib"}
    assert report["baselines"]["corpus_k"]["intrinsics"]["fx_rel_err"] is None  # no --corpus-fx-per-width given
    assert report["baselines"]["colmap_selfcalib"]["status"] == "disabled"
    assert report["baselines"]["five_point_calibrated"]["pose"]["rot_err_deg"] is None
    assert report["baselines"]["identity_pose"]["pose"]["rot_err_deg"] is None
    assert report["sequences"]["seq"]["baselines"]["identity_pose"]["pose"] is None
    assert report["settings"]["note"] is None  # NaN -> null
    write_json(report, tmp_path / "r.json")
    json.loads((tmp_path / "r.json").read_text())
    with pytest.raises(ValueError):
        json.dumps({"x": float("nan")}, allow_nan=False)
    assert to_jsonable({"a": np.float32(np.inf), "b": [np.int64(2), np.nan]}) == {"a": None, "b": [2, None]}


# --- CLI --------------------------------------------------------------------------------------------------------
def test_cli_end_to_end_on_fixture(tiny_checkpoint, tmp_path):
    output = tmp_path / "eval" / "report.json"
    status = main(["--checkpoint", str(tiny_checkpoint), "--sequences", str(PAIR), "--output", str(output),
                   "--backend", "torch", "--figures", "1"])
    assert status == 0
    report = json.loads(output.read_text())
    assert report["checkpoint"] == str(tiny_checkpoint)
    seq = report["sequences"]["tum_fr1_xyz_pair1"]
    assert {"depth", "pose", "intrinsics", "baselines"} <= set(seq)
    assert seq["depth"]["n_images"] == 1 and seq["pose"]["n_pairs"] == 1
    assert seq["intrinsics"]["intrinsics_source"] == "learned"
    for section, keys in AGGREGATE_KEYS.items():
        assert keys <= set(report["aggregate"][section])
    assert report["baselines"]["colmap_selfcalib"]["status"] in {"no_result", "unavailable"}  # 2 frames: skipped
    markdown = (output.parent / "report.md").read_text()
    assert "| metric | model |" in markdown and "tum_fr1_xyz_pair1" in markdown
    assert "## Depth cues" in markdown and "| tum_fr1_xyz_pair1 | 0 |" in markdown
    figures = sorted((output.parent / "figures").glob("*.png"))
    assert [f.name for f in figures] == ["tum_fr1_xyz_pair1_depth_00000.png"]


def test_cli_bad_arguments_exit_2(tmp_path, tiny_checkpoint, capsys):
    out = str(tmp_path / "r.json")
    assert main(["--sequences", str(tmp_path / "missing"), "--output", out, "--checkpoint", str(tiny_checkpoint)]) == 2
    assert "--sequences" in capsys.readouterr().err
    assert main(["--sequences", str(PAIR), "--output", out, "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "cannot load" in capsys.readouterr().err
    assert main(["--sequences", str(PAIR), "--output", out, "--max-frames", "0"]) == 2
    assert main(["--output", out]) == 2


# --- heavier checks on ../shared/data -----------------------------------------------------------------------------
@pytest.mark.skipif(not (SHARED_DATA / "sequences" / "kitti06_pair_0012").is_dir(), reason=NEEDS_SHARED)
def test_five_point_on_real_kitti_pair():
    outcome = oracle_run(SHARED_DATA / "sequences" / "kitti06_pair_0012")
    five = outcome.result["baselines"]["five_point_calibrated"]["pose"]
    assert five["n_pairs"] == 1 and five["rot_err_deg"] < 0.5 and five["tdir_err_deg"] < 5.0
    assert outcome.result["depth"] is None and outcome.result["pose"]["rot_err_deg"] == pytest.approx(0.0, abs=1e-5)
