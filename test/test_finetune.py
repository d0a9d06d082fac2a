"""Fine-tuning on one robot log (``python -m training finetune``): the command, the report, the refusal, the
calibrated K in training. Bags are written from real frames of the bundled dashcam video (and the shared EuRoC bag
when present)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from conftest import NEEDS_SHARED, SAMPLE_VIDEO, SHARED_DATA

from ss3d_core.camera import K_from_normalised
from ss3d_core.checkpoint import load_checkpoint, read_metadata
from ss3d_core.estimator import build_estimator
from ss3d_core.sfm.reconstruction import ReconstructionError
from training.data.augmentation import CropWindow, augmented_intrinsics, crop_resize_matrix, flip_matrix
from training.finetune import log_sfm, recipe
from training.finetune.bag_log import bag_sha256, read_camera_info, write_sequence_bag
from training.finetune.cli import EXIT_REFUSED, main
from training.finetune.log_clip import _stretches, holdout_index, prepare_log_clip
from training.finetune.log_sfm import reconstruct_training_part
from training.finetune.train import fit_on_log
from training.fit.module import SS3DLightningModule
from training.sfm import clip_sfm
from training.sfm.store import entry_key, load_sfm, read_record

SIZE = (240, 136)  # frames written to the test bags (w, h)
K_TEST = "width: 240\nheight: 136\nfx: 180.0\nfy: 180.0\ncx: 119.5\ncy: 67.5\n"


def _sequence(tmp_path, frames, name="seq", moving_gt=False):
    """A TUM-layout sequence at 10 Hz (stamps from 1 s) of ``frames`` with the test calibration; with ``moving_gt``
    a ground-truth trajectory moving 1 m forward (+z of the camera) per frame, as a dashcam roughly does."""
    seq = tmp_path / name
    (seq / "rgb").mkdir(parents=True)
    lines, gt = [], []
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(seq / "rgb" / f"{i:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        lines.append(f"{1.0 + 0.1 * i:.6f} rgb/{i:04d}.png")
        gt.append(f"{1.0 + 0.1 * i:.6f} 0 0 {float(i):.3f} 0 0 0 1")
    (seq / "rgb.txt").write_text("\n".join(lines) + "\n")
    (seq / "calib.yaml").write_text(K_TEST)
    if moving_gt:
        (seq / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    return seq


@pytest.fixture(scope="module")
def video_frames():
    """40 real dashcam frames (every 2nd of the bundled video) at 240×136."""
    from ss3d_core.io.video import iter_video_frames

    return [cv2.resize(rgb, SIZE, interpolation=cv2.INTER_AREA)
            for _, rgb in iter_video_frames(SAMPLE_VIDEO, stride=2, max_frames=40)]


def test_holdout_is_the_last_part_by_time_and_stretches_cover_the_rest():
    stamps = [0.1 * i for i in range(50)]
    assert holdout_index(stamps, 0.2) == 40  # 4.9 s long: the hold-out starts at 3.92 s
    assert holdout_index([0, 1, 2, 0.5, 3, 4], 0.5) == 4  # time that goes backwards counts as none
    with pytest.raises(ValueError, match="hold-out fraction"):
        holdout_index(stamps, 1.0)
    assert _stretches([(0, 30), (30, 50)], 40, 20) == [(0, 20), (20, 30), (30, 40)]
    assert _stretches([(0, 41)], 41, 20) == [(0, 20), (20, 41)]  # a 1-frame tail joins the previous stretch


def test_calibrated_intrinsics_follow_crop_and_flip():
    w, h = 224, 128
    norm = [0.7, 1.2, 0.52, 0.48]
    K = K_from_normalised(torch.tensor([norm], dtype=torch.float64), w, h)[0].numpy()
    point = np.array([0.3, -0.2, 2.0])
    A = flip_matrix(w) @ crop_resize_matrix(CropWindow(x0=20, y0=10, width=180, height=100), h, w)
    K_aug = K_from_normalised(torch.from_numpy(augmented_intrinsics(norm, A, w, h))[None], w, h)[0].double().numpy()
    mirrored = point * np.array([-1.0, 1.0, 1.0])  # the flipped image is what a mirrored camera sees
    expected = A @ (K @ point)
    got = K_aug @ mirrored
    np.testing.assert_allclose(got[:2] / got[2], expected[:2] / expected[2], atol=1e-4)


def test_known_intrinsics_drive_the_losses(tiny_config, monkeypatch):
    import training.fit.module

    torch.manual_seed(0)
    module = SS3DLightningModule(net=tiny_config, use_known_intrinsics=True).eval()
    frames = torch.rand(2, 3, 3, tiny_config.input_height, tiny_config.input_width)
    with pytest.raises(ValueError, match="use_known_intrinsics"):
        module._step({"frames": frames}, augment=False)
    used = []
    monkeypatch.setattr(training.fit.module, "K_from_normalised",
                        lambda k, w, h: used.append(k) or K_from_normalised(k, w, h))
    known = torch.tensor([[0.5, 0.9, 0.5, 0.5], [0.6, 1.0, 0.45, 0.55]])
    with torch.no_grad():
        terms, predicted = module._step({"frames": frames, "intrinsics": known}, augment=False)
    assert torch.equal(used[0], known) and not torch.allclose(predicted, known)


def test_sequence_bag_round_trip(tmp_path, video_frames):
    grey = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2) for f in video_frames[:3]]
    bag = write_sequence_bag(_sequence(tmp_path, grey), tmp_path / "bag", storage="mcap")
    calibration = read_camera_info(bag)
    assert calibration.topic == "/camera/camera_info" and (calibration.width, calibration.height) == SIZE
    np.testing.assert_allclose(calibration.normalised(), [0.75, 180 / 136, 0.5, 0.5])
    from ss3d_core.io.bag_images import iter_bag_frames

    assert all(np.array_equal(a, b) for a, b in zip(iter_bag_frames(bag, 10.0), grey))  # mono8, exactly
    assert len(bag_sha256(bag)) == 64
    with pytest.raises(ValueError, match="not a sensor_msgs/msg/CameraInfo topic"):
        read_camera_info(bag, "/camera/image_raw")


def test_finetune_trains_exports_reports_and_resumes(tmp_path, tiny_checkpoint, video_frames):
    seq = _sequence(tmp_path, video_frames, moving_gt=True)
    bag = write_sequence_bag(seq, tmp_path / "bag")
    out = tmp_path / "run"
    # 45 s: a quarter (11 s) for COLMAP on the 32 training frames (about 6 s here), 30 s for the report (2 s here),
    # the rest (about 9 s) trains.
    argv = ["--bag", str(bag), "--out", str(out), "--from-checkpoint", str(tiny_checkpoint), "--max-minutes", "0.75",
            "--use-camera-info", "--groundtruth", str(seq / "groundtruth.txt"), "--no-progress-bar"]
    assert main(argv) == 0
    export = out / "ss3d_small"
    meta = read_metadata(export)
    finetune = meta.training["finetune"]
    assert finetune["bag_sha256"] == bag_sha256(bag) and "--use-camera-info" in finetune["command"]
    assert finetune["intrinsics"]["source"] == "camera_info"
    assert finetune["holdout"]["held_back_frames"] == 8 and finetune["holdout"]["training_frames"] == 32
    assert meta.training["hyperparameters"]["use_known_intrinsics"] is True
    load_checkpoint(export)  # what ss3d_eval loads
    build_estimator(str(export), backend="torch")  # what the node loads
    report = json.loads((out / "report.json").read_text())
    for name in ("before", "after"):
        result = report["results"][name]
        assert result["n_stream_frames"] == 8 and result["n_triplets"] == 6
        # Every held-back frame met its ground truth (the tiny untrained net predicts no motion at all, which the
        # stream scoring reads as odometry restarts, so its pair count says nothing here).
        assert result["pose"]["n_frames_with_gt"] == 8 and result["pose"]["gt_source"].startswith("TUM file")
        assert result["photometric"] > 0 and result["fx_rel_error_vs_camera_info"] is not None
    assert "| metric | before | after |" in (out / "report.md").read_text()
    # The SfM teacher ran on the 32 training frames only. This highway clip gives COLMAP no usable model (2 of 32
    # frames at most, or no model in the time given), so fine-tuning went on without labels and the report says why.
    sfm = report["sfm"]
    assert sfm["frames"] == 32 and sfm["store"] is None and sfm["reason"]
    assert f"SfM teacher: COLMAP registered {sfm['registered']} of the 32 training frames" in (out /
                                                                                              "report.md").read_text()
    record = read_record(out / "sfm", "log")
    assert record["frame_end"] == 32 and record["frames"] == 40
    assert meta.training["finetune"]["sfm"]["frames"] == 32
    step = report["global_step"]
    assert (out / "lightning" / "last.ckpt").is_file()
    # The same command resumes from the last epoch's checkpoint with the budget it had spent (Lightning's Timer state):
    # at most the steps after that checkpoint run again, and the report is written again.
    entry_mtime = (out / "sfm" / "log" / "sfm.json").stat().st_mtime_ns
    assert main(argv) == 0
    assert step <= json.loads((out / "report.json").read_text())["global_step"] <= step + 3
    assert (out / "sfm" / "log" / "sfm.json").stat().st_mtime_ns == entry_mtime  # reused, not reconstructed


def test_a_log_without_motion_is_refused_with_counts(tmp_path, tiny_checkpoint, video_frames, caplog):
    bag = write_sequence_bag(_sequence(tmp_path, [video_frames[0]] * 30), tmp_path / "bag")
    argv = ["--bag", str(bag), "--out", str(tmp_path / "run"), "--from-checkpoint", str(tiny_checkpoint)]
    assert main(argv) == EXIT_REFUSED
    assert "too little usable motion" in caplog.text and "0 training triplets where 16 are needed" in caplog.text
    assert "still in 100% of the sampled pairs" in caplog.text
    assert not (tmp_path / "run" / "ss3d_small.safetensors").exists()


@pytest.mark.skipif(not (SHARED_DATA / "bags").is_dir(), reason=NEEDS_SHARED)
def test_the_euroc_bag_at_rest_is_refused(tmp_path, tiny_checkpoint, caplog):
    argv = ["--bag", str(SHARED_DATA / "bags" / "euroc_v101_cam0_sqlite3"), "--out", str(tmp_path / "run"),
            "--from-checkpoint", str(tiny_checkpoint)]
    assert main(argv) == EXIT_REFUSED
    assert "is too short to fine-tune on: 10 frames (0.9 s) at 10 Hz, where at least 23 are needed" in caplog.text


def test_bad_input_is_one_clear_error(tmp_path, tiny_checkpoint, caplog):
    argv = ["--bag", str(tmp_path / "nope"), "--out", str(tmp_path / "run"), "--from-checkpoint", str(tiny_checkpoint)]
    assert main(argv) == 2
    assert "no such bag" in caplog.text


OFFICE = SHARED_DATA / "sequences" / "tum_fr3_office_1hz"  # 17 real frames about 1 s apart, calib.yaml


def _prepared_log(bag, out):
    """The log as the command prepares it, without its motion refusal (a short test log)."""
    return prepare_log_clip(bag, None, out, recipe.DATA["target_rate_hz"], recipe.HOLDOUT_FRACTION, recipe.STRETCH_S,
                            0.0, 0, recipe.MIN_HOLDOUT_FRAMES)


@pytest.mark.skipif(not OFFICE.is_dir(), reason=NEEDS_SHARED)
def test_the_sfm_teacher_reconstructs_only_the_training_part_and_its_labels_train(tmp_path, tiny_checkpoint,
                                                                                  monkeypatch):
    bag = write_sequence_bag(OFFICE, tmp_path / "bag")
    out = tmp_path / "run"
    clip = _prepared_log(bag, out)
    n, train = len(clip.stamps_s), clip.holdout_start
    assert n == 17 and train == 13
    sfm = reconstruct_training_part(clip, out, recipe.DATA["target_rate_hz"], budget_s=600.0, num_threads=1)
    assert sfm.reason is None and sfm.store == out / "sfm" and sfm.frames == train
    record = read_record(sfm.store, "log")
    assert record["frame_end"] == train and record["frames"] == n
    assert record["key"] == entry_key(clip.spec, 10.0, train) != entry_key(clip.spec, 10.0)  # exactly these frames
    labels = load_sfm(sfm.store, clip.spec)
    assert not labels.registered[train:].any() and np.isnan(labels.T_camera_world[train:]).all()
    assert labels.registered[:train].sum() == sfm.registered >= train - 2
    assert sfm.fx_px == pytest.approx(535.4, rel=0.03)  # calib.yaml: fx 535.4 px at 640 px (COLMAP at 640 px: 0.8 %)
    assert "its labels trained" in sfm.summary()
    # The labels reach the batch and the teacher's terms train: every stretch kept and batches of 2, as this 1-Hz log
    # has a handful of training triplets (the wiring is tested here, not the filter).
    monkeypatch.setitem(recipe.DATA, "batch_size", 2)
    with clip.scores_csv.open() as f:
        rows = list(csv.DictReader(f))
    scores = tmp_path / "scores.csv"
    with scores.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "mvs_score": 1.0} for row in rows)
    # 4 s of training: about 25 steps here; the metrics file gets its first training row at step 5.
    run = fit_on_log(replace(clip, scores_csv=scores), str(tiny_checkpoint), out, 4.0, None, {}, progress_bar=False,
                     accelerator="cpu", sfm_dir=sfm.store)
    assert run.global_step > 0
    hparams = next((out / "logs").glob("version_*/hparams.yaml")).read_text()
    assert "sfm_rotation_weight: 10.0" in hparams
    assert "train/sfm_rotation" in next((out / "logs").glob("version_*/metrics.csv")).read_text()


def test_without_colmap_or_with_a_failed_reconstruction_fine_tuning_has_no_labels_and_says_why(tmp_path, video_frames,
                                                                                               monkeypatch):
    bag = write_sequence_bag(_sequence(tmp_path, video_frames[:24]), tmp_path / "bag")
    clip = _prepared_log(bag, tmp_path / "run")
    monkeypatch.setattr(log_sfm, "colmap_available", lambda: (False, "pycolmap is not installed"))
    sfm = reconstruct_training_part(clip, tmp_path / "run", 10.0, 600.0)
    assert sfm.store is None and sfm.summary() == "not run (no SfM: pycolmap is not installed)."
    monkeypatch.setattr(log_sfm, "colmap_available", lambda: (True, ""))

    def no_model(frames, timeout_s, num_threads):
        assert len(list(frames)) == clip.holdout_start  # COLMAP is never given a held-back frame
        raise ReconstructionError("COLMAP made no model from 19 frames", "no_model")

    monkeypatch.setattr(clip_sfm, "reconstruct_frames", no_model)
    sfm = reconstruct_training_part(clip, tmp_path / "run", 10.0, 600.0)
    assert sfm.store is None and sfm.registered == 0 and sfm.frames == clip.holdout_start == 19
    assert sfm.summary().endswith("no SfM labels: SfM failed: COLMAP made no model from 19 frames.")
