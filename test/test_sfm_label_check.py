"""The SfM teacher's labels scored against ground truth (training/sfm/label_scoring.py, clip_ground_truth.py,
label_check.py): synthetic labels with known errors, frames matched to ground truth by stamp and by name, and the
command end to end with COLMAP replaced by known cameras (a real reconstruction is out/label_check's run, minutes on
two cores: docs/experiments.md)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import transforms3d

from ss3d_core.pose import invert_pose, pose_to_quaternion_translation
from ss3d_core.sfm.reconstruction import SfmReconstruction
from training.data.clips import ClipSpec, read_clip_index
from training.sfm import clip_sfm
from training.sfm.clip_ground_truth import clip_ground_truth
from training.sfm.label_check import main
from training.sfm.label_scoring import label_errors, summarise_label_errors
from training.sfm.store import SfmLabels

N_FRAMES = 5
ROLL_PER_FRAME_DEG = 1.5  # ground truth turns about the optical axis, so its translation stays along z
PERTURBED = 2
THETA_DEG = 2.0
TOLERANCE_DEG = 1e-3  # the batch's poses are float32


def _rotation(axis, degrees: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = transforms3d.axangles.axangle2mat(axis, np.radians(degrees))
    return T


def _gt_T_world_camera() -> list[np.ndarray]:
    """Camera ``i`` at ``z = i`` metres, rolled ``i · ROLL_PER_FRAME_DEG`` about its optical axis."""
    poses = []
    for i in range(N_FRAMES):
        T = _rotation([0, 0, 1], i * ROLL_PER_FRAME_DEG)
        T[2, 3] = float(i)
        poses.append(T)
    return poses


def _labels(T_camera_world: np.ndarray, segment: np.ndarray | None = None,
            registered: np.ndarray | None = None) -> SfmLabels:
    """Labels with ``T_camera_world`` and 20 points at depth 5 per frame (enough for a direction label)."""
    points = np.tile(np.array([[320.0, 180.0, 5.0]], np.float32), (20 * N_FRAMES, 1))
    return SfmLabels(clip="synthetic", K=np.array([[500.0, 0, 319.5], [0, 500.0, 179.5], [0, 0, 1]]), width=640,
                     height=360, T_camera_world=T_camera_world,
                     registered=np.ones(N_FRAMES, bool) if registered is None else registered,
                     segment=np.zeros(N_FRAMES, np.int64) if segment is None else segment, points_uvz=points,
                     points_offsets=np.arange(N_FRAMES + 1) * 20)


def _in_another_world(poses: list[np.ndarray], scale: float) -> np.ndarray:
    """``T_camera_world`` of the same cameras in a world rotated, moved and scaled by a Sim(3) (an SfM solution)."""
    T_world_sfm = _rotation([0.3, -0.5, 0.8], 37.0)
    T_world_sfm[:3, 3] = [4.0, -2.0, 7.0]
    out = []
    for T_world_camera in poses:
        T_sfm_camera = invert_pose(T_world_sfm) @ T_world_camera
        T_sfm_camera[:3, 3] *= scale
        out.append(invert_pose(T_sfm_camera))
    return np.stack(out)


def test_labels_of_the_true_motion_in_any_world_and_scale_score_zero():
    gt = _gt_T_world_camera()
    errors = label_errors(_labels(_in_another_world(gt, scale=0.4)), gt)
    summary = summarise_label_errors(errors)
    assert summary["n_rotation_labels"] == 2 * (N_FRAMES - 2) and summary["n_tdir_labels"] == 2 * (N_FRAMES - 2)
    assert summary["rot_err_deg_p90"] < TOLERANCE_DEG and summary["tdir_err_deg_p90"] < TOLERANCE_DEG
    assert summary["gt_rotation_deg_median"] == pytest.approx(ROLL_PER_FRAME_DEG, abs=TOLERANCE_DEG)
    assert summary["gt_translation_m_median"] == pytest.approx(1.0)


def test_one_camera_turned_by_theta_gives_the_known_errors():
    """Camera 2 turned by θ about its y axis: its four labels are θ off in rotation; the two where it is the source
    also see the (z-axis) translation turned by θ, the two where it is the target keep the true direction."""
    gt = _gt_T_world_camera()
    T_camera_world = _in_another_world(gt, scale=1.0)
    T_camera_world[PERTURBED] = _rotation([0, 1, 0], THETA_DEG) @ T_camera_world[PERTURBED]
    errors = label_errors(_labels(T_camera_world), gt)
    by_pair = {(e.target, e.source): e for e in errors}
    for pair, (rotation, direction) in {(1, 0): (0, 0), (1, 2): (THETA_DEG, THETA_DEG), (2, 1): (THETA_DEG, 0),
                                        (2, 3): (THETA_DEG, 0), (3, 2): (THETA_DEG, THETA_DEG), (3, 4): (0, 0)}.items():
        assert by_pair[pair].rot_err_deg == pytest.approx(rotation, abs=TOLERANCE_DEG), pair
        assert by_pair[pair].tdir_err_deg == pytest.approx(direction, abs=TOLERANCE_DEG), pair
    summary = summarise_label_errors(errors)
    assert summary["rot_err_deg_median"] == pytest.approx(THETA_DEG, abs=TOLERANCE_DEG)
    assert summary["rot_err_deg_mean"] == pytest.approx(THETA_DEG * 4 / 6, abs=TOLERANCE_DEG)
    assert summary["tdir_err_deg_median"] == pytest.approx(0.0, abs=TOLERANCE_DEG)
    assert summary["tdir_err_deg_mean"] == pytest.approx(THETA_DEG / 3, abs=TOLERANCE_DEG)
    assert summary["tdir_err_deg_p90"] == pytest.approx(THETA_DEG, abs=TOLERANCE_DEG)


def test_only_what_the_loss_sees_is_scored():
    """A target whose neighbours span two segments is no training target, an unregistered frame has no label, a pair
    without ground truth is not scored, and a direction label on a pair whose ground truth did not move is counted."""
    gt = _gt_T_world_camera()
    gt[4] = gt[3].copy()  # the camera stops between frames 3 and 4
    T_camera_world = _in_another_world(gt, scale=1.0)
    T_camera_world[4, :3, 3] += [0.0, 0.0, 0.5]  # ... but the label moves it
    errors = label_errors(_labels(T_camera_world, segment=np.array([0, 0, 0, 0, 0])), gt)
    assert summarise_label_errors(errors)["n_tdir_gt_static"] == 1
    split = label_errors(_labels(T_camera_world, segment=np.array([0, 0, 1, 1, 1])), gt)
    assert {e.target for e in split} == {3}  # targets 1 and 2 have a neighbour in the other segment
    registered = np.array([True, True, False, True, True])
    assert {(e.target, e.source) for e in label_errors(_labels(T_camera_world, registered=registered), gt)} == {
        (1, 0), (3, 4)}
    without_gt = [None, *gt[1:]]
    assert (1, 0) not in {(e.target, e.source) for e in label_errors(_labels(T_camera_world), without_gt)}
    with pytest.raises(ValueError, match="ground-truth poses"):
        label_errors(_labels(T_camera_world), gt[:-1])


def _write_sequence(root: Path, names: list[str], stamps: list[float]) -> None:
    (root / "rgb").mkdir(parents=True)
    image = np.zeros((8, 8, 3), np.uint8)
    for name in names:
        cv2.imwrite(str(root / "rgb" / name), image)
    (root / "rgb.txt").write_text("".join(f"{t:.6f} rgb/{n}\n" for t, n in zip(stamps, names)))
    (root / "calib.yaml").write_text("width: 8\nheight: 8\nfx: 5\nfy: 5\ncx: 3.5\ncy: 3.5\n")
    (root / "groundtruth.txt").write_text("".join(f"{t + 0.01:.6f} {i} 0 0 0 0 0 1\n" for i, t in enumerate(stamps)))


def test_clip_frames_find_their_ground_truth_by_stamp_or_by_name(tmp_path):
    names, stamps = ["100.png", "200.png", "300.png"], [1.0, 1.1, 1.2]
    _write_sequence(tmp_path / "seq", names, stamps)
    as_clip = read_clip_index(tmp_path / "seq")[0]
    assert as_clip.kind == "tum"
    assert [T[0, 3] for T in clip_ground_truth(as_clip, tmp_path / "seq", 10.0)] == [0.0, 1.0, 2.0]
    # A corpus copy of two of the frames, re-encoded (another suffix), and one frame the sequence does not hold.
    (tmp_path / "copy" / "frames").mkdir(parents=True)
    for name in ("200.jpg", "300.jpg", "999.jpg"):
        (tmp_path / "copy" / "frames" / name).write_bytes(b"")
    copy = ClipSpec("copy", "frames", None, True, tmp_path / "copy")
    poses = clip_ground_truth(copy, tmp_path / "seq", 10.0)
    assert [None if T is None else T[0, 3] for T in poses] == [1.0, 2.0, None]
    assert clip_ground_truth(as_clip, tmp_path / "seq", 10.0, max_diff_s=0.005) == [None, None, None]
    with pytest.raises(ValueError, match="video clip"):
        clip_ground_truth(ClipSpec("v", "video", None, True, tmp_path / "copy"), tmp_path / "seq", 10.0)


def test_the_command_reconstructs_reads_back_and_scores_a_sequence_and_an_overlapping_clip(tmp_path, monkeypatch,
                                                                                           capsys):
    """End to end with COLMAP replaced by a model that returns the true cameras in another world and scale, with a
    focal length 10 % long: zero pose errors, fx error 0.10, for the sequence read as a clip and for a corpus copy of
    its frames matched by file name."""
    gt = _gt_T_world_camera()
    T_camera_world = _in_another_world(gt, scale=0.5)

    def colmap(frames, timeout_s, num_threads):
        n = sum(1 for _ in frames)
        points = np.tile(np.array([[30.0, 20.0, 2.0]], np.float32), (20 * n, 1))
        stats = {"frames": n, "registered": n, "models": 1, "seconds": 0.1, "points_per_image": 20.0,
                 "median_track_length": 3.0, "median_triangulation_angle_deg": 2.0,
                 "mean_reprojection_error_px": 0.5, "radial_k1": 0.0, "working_size": [64, 48]}
        return SfmReconstruction(np.array([[110.0, 0, 31.5], [0, 110.0, 23.5], [0, 0, 1]]), 64, 48,
                                 T_camera_world[:n], np.ones(n, bool), points, np.arange(n + 1) * 20, stats)

    monkeypatch.setattr(clip_sfm, "reconstruct_frames", colmap)
    monkeypatch.setattr("training.sfm.cli.colmap_available", lambda: (True, ""))
    rng = np.random.default_rng(0)
    # One smooth scene panned a pixel per frame: one shot segment.
    scene = cv2.GaussianBlur(rng.integers(0, 255, (48, 96, 3), np.uint8), (0, 0), 3.0)
    sequence, corpus = tmp_path / "seq", tmp_path / "corpus"
    (sequence / "rgb").mkdir(parents=True)
    (corpus / "copy" / "frames").mkdir(parents=True)
    for i in range(N_FRAMES):
        cv2.imwrite(str(sequence / "rgb" / f"{i}.png"), scene[:, i:i + 64])
        cv2.imwrite(str(corpus / "copy" / "frames" / f"{i}.png"), scene[:, i:i + 64])
    (sequence / "rgb.txt").write_text("".join(f"{0.1 * i:.6f} rgb/{i}.png\n" for i in range(N_FRAMES)))
    (sequence / "groundtruth.txt").write_text("".join(
        f"{0.1 * i:.6f} {' '.join(map(str, T[:3, 3]))} {' '.join(map(str, pose_to_quaternion_translation(T)[0]))}\n"
        for i, T in enumerate(gt)))
    (sequence / "calib.yaml").write_text("width: 64\nheight: 48\nfx: 100\nfy: 100\ncx: 31.5\ncy: 23.5\n")
    (corpus / "clips.csv").write_text("name,kind,label,consecutive\ncopy,frames,translating,True\n")
    output = tmp_path / "out"
    assert main(["--sequences", str(sequence), "--overlap", f"{corpus / 'copy'}={sequence}",
                 "--output", str(output)]) == 0
    report = json.loads((output / "label_check.json").read_text())
    assert [(row["clip"], row["sequence"], row["status"]) for row in report["rows"]] == [
        ("seq", "seq", "ok"), ("copy", "seq", "ok")]
    for row in report["rows"]:
        assert row["n_rotation_labels"] == row["n_tdir_labels"] == 2 * (N_FRAMES - 2)
        assert row["rot_err_deg_p90"] < TOLERANCE_DEG and row["tdir_err_deg_p90"] < TOLERANCE_DEG
        assert row["fx_rel_err"] == pytest.approx(0.10)
    assert len(report["labels"]["seq"]) == 2 * (N_FRAMES - 2)
    assert "| seq | seq | ok | 5 | 6 | 0.000 |" in capsys.readouterr().out
    assert (output / "seq" / "sfm.json").is_file() and (output / "copy" / "sfm.json").is_file()
