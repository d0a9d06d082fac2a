"""The SfM teacher: COLMAP in a child process (ss3d_core.sfm) and the per-clip store of ``python -m training sfm``.

Real reconstructions use tum_fr3_office_1hz from ../shared/data (evaluation data, used here only to check the
teacher against its calibration, never for training); the store's bookkeeping tests count COLMAP calls with a
stand-in so that they run in a second.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import NEEDS_SHARED, SHARED_DATA
from test_holdout import EVAL_PAIR, eval_frames, write_corpus

from ss3d_core.io.tum_sequence import TumSequence
from ss3d_core.sfm import settings
from ss3d_core.sfm.reconstruction import ReconstructionError, SfmReconstruction
from ss3d_core.sfm.runner import reconstruct_frames, working_size
from training.data.clips import ClipSpec, read_clip_index
from training.sfm import clip_sfm
from training.sfm.cli import main, parse_shard, shard_clips
from training.sfm.store import (
    MAX_FOV_DEG,
    MIN_FOV_DEG,
    corpus_focal_per_width,
    field_of_view_deg,
    load_sfm,
    needs_build,
    read_record,
)

OFFICE = SHARED_DATA / "sequences" / "tum_fr3_office_1hz"  # 17 real frames about 1 s apart, calib.yaml
needs_office = pytest.mark.skipif(not OFFICE.is_dir(), reason=NEEDS_SHARED)
# COLMAP's one focal length on these frames against calib.yaml (fx 535.4, fy 539.2 px): measured 0.8 % / 1.5 % off at
# 640 px and 1.2 % / 1.9 % at 320 px; within 3 % is what the K labels need (the trained networks are 16-35 % off).
FOCAL_TOLERANCE = 0.03
# Reprojection of one frame's sparse depth into the next frame: pixels to the nearest observation there (the labels
# keep points under 2 px mean reprojection error; the pinhole reprojection ignores the small radial term).
REPROJECTION_TOLERANCE_PX = 3.0


def _office_frames() -> list[np.ndarray]:
    sequence = TumSequence.load(OFFICE)
    return [sequence.read_rgb(i) for i in range(len(sequence.rgb))]


def _frames_clip(root: Path, name: str, frames: list[np.ndarray]) -> Path:
    folder = root / name / "frames"
    folder.mkdir(parents=True)
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder.parent


# --- real reconstructions ---------------------------------------------------------------------------------------
@needs_office
def test_office_reconstructs_at_a_smaller_working_size_with_its_calibrated_focal_length():
    frames = _office_frames()
    calib = TumSequence.load(OFFICE).calibration
    model = reconstruct_frames(frames, max_side_px=320)
    assert model.stats["working_size"] == list(working_size(640, 480, 320)) == [320, 240]
    assert (model.width, model.height) == (640, 480)  # scaled back to the source size
    assert model.stats["registered"] == len(frames) == model.n_frames
    assert abs(model.K[0, 0] / calib.K[0, 0] - 1) < FOCAL_TOLERANCE
    assert abs(model.K[1, 1] / calib.K[1, 1] - 1) < FOCAL_TOLERANCE
    assert model.K[0, 2] == pytest.approx(319.5) and model.K[1, 2] == pytest.approx(239.5)  # centre, (0, 0) convention
    uvz = model.points_uvz
    assert len(uvz) and (uvz[:, 2] > 0).all()
    assert (uvz[:, 0] > -0.5).all() and (uvz[:, 0] < 639.5).all() and (uvz[:, 1] > -0.5).all()


def test_reconstruction_timeout_and_too_few_frames_are_errors_with_reasons():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (240, 320, 3), np.uint8) for _ in range(5)]
    with pytest.raises(ReconstructionError, match="did not finish within 0.05 s") as timeout:
        reconstruct_frames(frames, timeout_s=0.05)  # the child cannot even import pycolmap in 50 ms
    assert timeout.value.kind == "timeout"
    with pytest.raises(ReconstructionError, match="2 frames: fewer than 3") as short:
        reconstruct_frames(frames[:2])
    assert short.value.kind == "too_few_frames"
    with pytest.raises(ValueError, match="the first was 320×240"):
        reconstruct_frames([frames[0], frames[1][:100]])


@needs_office
def test_corpus_command_reconstructs_good_clips_and_reports_bad_ones(tmp_path):
    """One real run of ``python -m training sfm`` over a real clip, a grey clip (no texture), a two-frame clip and a
    damaged video: the real clip gets labels with its calibrated focal length, the others one failed entry each."""
    frames = _office_frames()
    corpus = tmp_path / "corpus"
    _frames_clip(corpus, "grey", [np.full((120, 160, 3), 128, np.uint8)] * 5)
    _frames_clip(corpus, "short", frames[:2])
    (corpus / "broken").mkdir()
    (corpus / "broken" / "clip.mp4").write_bytes(b"not a video" * 100)
    output = tmp_path / "sfm"
    assert main(["--clips", str(OFFICE), str(corpus), "--output", str(output), "--jobs", "2"]) == 0

    office = read_clip_index(OFFICE)[0]
    record = read_record(output, office.name)
    assert record["status"] == "ok" and record["frames"] == record["registered"] == len(frames)
    assert (record["width"], record["height"]) == (640, 480) and record["segments"][0]["end"] == len(frames)
    calib = TumSequence.load(OFFICE).calibration
    assert abs(record["K"][0][0] / calib.K[0, 0] - 1) < FOCAL_TOLERANCE
    for key in ("models", "seconds", "points_per_image", "median_track_length", "median_triangulation_angle_deg",
                "mean_reprojection_error_px"):
        assert record[key] > 0, key
    labels = load_sfm(output, office)
    assert labels is not None and labels.registered.all() and len(labels.points_offsets) == len(frames) + 1
    _check_reprojection(labels)

    reasons = {name: read_record(output, name) for name in ("grey", "short", "broken")}
    assert all(r["status"] == "failed" for r in reasons.values())
    assert "0 SIFT features" in reasons["grey"]["reason"]
    assert "fewer than 3" in reasons["short"]["reason"]
    assert reasons["broken"]["reason"].startswith("unreadable")
    specs = {s.name: s for s in read_clip_index(corpus)}
    assert all(load_sfm(output, specs[name]) is None for name in reasons)
    with (output / "summary.csv").open() as f:
        rows = {row["clip"]: row for row in csv.DictReader(f)}
    assert set(rows) == {office.name, "grey", "short", "broken"}
    assert rows[office.name]["labels"] == "yes" and rows["grey"]["labels"] == "no"


def _check_reprojection(labels) -> None:
    """Each frame's sparse depth, moved into the next frame with the stored poses and K, lands on observations there:
    ``(u, v, z)``, ``T_camera_world`` and ``K`` agree (conventions and the scale back to the source size)."""
    K_inv = np.linalg.inv(labels.K)
    distances = []
    for i in range(len(labels.registered) - 1):
        here, there = labels.points(i), labels.points(i + 1)
        rays = np.column_stack([here[:, :2], np.ones(len(here))]) @ K_inv.T
        in_i = rays * here[:, 2:3]
        T_next_i = labels.relative_pose(i + 1, i)
        in_next = in_i @ T_next_i[:3, :3].T + T_next_i[:3, 3]
        projected = in_next @ labels.K.T
        uv = projected[:, :2] / projected[:, 2:3]
        gaps = np.linalg.norm(uv[:, None, :] - there[None, :, :2], axis=2).min(axis=1)
        distances.append(np.median(gaps))
    assert np.median(distances) < REPROJECTION_TOLERANCE_PX
    assert np.allclose(labels.relative_pose(3, 3), np.eye(4), atol=1e-9)


# --- the store's bookkeeping (COLMAP replaced by a counting stand-in) ---------------------------------------------
class _CountingColmap:
    """Stands in for :func:`reconstruct_frames`: consumes the frames, counts calls, returns a fixed-shape model or
    raises the failure it is told to."""

    def __init__(self):
        self.calls = 0
        self.failure: ReconstructionError | None = None
        self.fx = 100.0  # at 64×48: a 35.5° field of view across the longer side, inside the plausible range
        self.frames_given: list[int] = []

    def __call__(self, frames, timeout_s, num_threads):
        n = sum(1 for _ in frames)
        self.calls += 1
        self.frames_given.append(n)
        if self.failure is not None:
            raise self.failure
        K = np.array([[self.fx, 0, 31.5], [0, self.fx, 23.5], [0, 0, 1]])
        points = np.tile(np.array([[10.0, 20.0, 2.0]], np.float32), (n, 1))
        stats = {"frames": n, "registered": n, "models": 1, "seconds": 0.1, "points_per_image": 1.0,
                 "median_track_length": 3.0, "median_triangulation_angle_deg": 2.0,
                 "mean_reprojection_error_px": 0.5, "radial_k1": 0.0, "working_size": [64, 48]}
        return SfmReconstruction(K, 64, 48, np.tile(np.eye(4), (n, 1, 1)), np.ones(n, bool), points,
                                 np.arange(n + 1, dtype=np.int64), stats)


@pytest.fixture()
def counting(monkeypatch):
    colmap = _CountingColmap()
    monkeypatch.setattr(clip_sfm, "reconstruct_frames", colmap)
    return colmap


@pytest.fixture()
def small_clip(tmp_path) -> ClipSpec:
    rng = np.random.default_rng(1)
    folder = _frames_clip(tmp_path / "corpus", "small", [rng.integers(0, 255, (48, 64, 3), np.uint8)
                                                        for _ in range(4)])
    return ClipSpec("small", "frames", None, False, folder)


def test_store_is_built_once_reused_and_rebuilt_when_the_clip_rate_or_settings_change(tmp_path, counting,
                                                                                     small_clip, monkeypatch):
    output = tmp_path / "sfm"

    def build(rate=10.0):
        return clip_sfm.build_clip(small_clip, output, rate, 60.0, 1)

    record, built = build()
    assert built and counting.calls == 1 and record["status"] == "ok" and record["registered"] == 4
    assert not build()[1] and counting.calls == 1  # a cache hit calls no COLMAP
    labels = load_sfm(output, small_clip)
    assert labels.T_camera_world.shape == (4, 4, 4) and labels.points(2).tolist() == [[10.0, 20.0, 2.0]]
    frame = next((small_clip.folder / "frames").iterdir())
    os.utime(frame, ns=(frame.stat().st_atime_ns, frame.stat().st_mtime_ns + 10**9))
    assert load_sfm(output, small_clip) is not None  # a copied or restored corpus (new mtimes) keeps its entries
    frame.write_bytes(frame.read_bytes() + b"\0")  # the clip's content changed
    assert load_sfm(output, small_clip) is None  # stale until rebuilt
    assert build()[1] and counting.calls == 2
    assert build(rate=5.0)[1] and counting.calls == 3
    monkeypatch.setattr(settings, "SETTINGS_VERSION", settings.SETTINGS_VERSION + 1)
    assert build(rate=5.0)[1] and counting.calls == 4
    assert not [p for p in output.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_failed_clips_are_stored_not_retried_and_a_timeout_retries_with_a_longer_limit(tmp_path, counting,
                                                                                       small_clip):
    output = tmp_path / "sfm"
    counting.failure = ReconstructionError("COLMAP made no model", "no_model")
    record, _ = clip_sfm.build_clip(small_clip, output, 10.0, 60.0, 1)
    assert record["status"] == "failed" and record["reason"] == "COLMAP made no model"
    assert not (output / "small" / "poses.npy").exists() and load_sfm(output, small_clip) is None
    assert not clip_sfm.build_clip(small_clip, output, 10.0, 60.0, 1)[1] and counting.calls == 1
    counting.failure = ReconstructionError("COLMAP did not finish within 60 s", "timeout")
    shutil.rmtree(output / "small")
    assert clip_sfm.build_clip(small_clip, output, 10.0, 60.0, 1)[0]["timed_out"]
    record = read_record(output, "small")
    assert not needs_build(record, record["key"], 60.0) and needs_build(record, record["key"], 120.0)


def test_shards_are_disjoint_and_cover_the_sorted_clip_list(tmp_path):
    specs = [ClipSpec(f"clip{i:02d}", "frames", None, False, tmp_path) for i in (5, 3, 11, 0, 7, 1, 2)]
    for n in (1, 2, 3, 7, 9):
        parts = [shard_clips(specs, i, n) for i, n in (parse_shard(f"{i}/{n}") for i in range(n))]
        names = [spec.name for part in parts for spec in part]
        assert sorted(names) == sorted(s.name for s in specs) and len(names) == len(set(names))
    for bad in ("3/3", "-1/2", "1", "a/b"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_a_focal_length_outside_the_plausible_field_of_view_gives_no_labels(tmp_path, counting, small_clip, caplog):
    caplog.set_level("INFO", logger="training.sfm.store")
    output = tmp_path / "sfm"
    # 64 px wide: fx 16 px is a 126.9° field of view (a fisheye's, or distortion taken into fx), fx 200 px is 18°.
    for fx, fov, usable in ((16.0, 126.9, False), (200.0, 18.2, False), (50.0, 65.2, True)):
        counting.fx = fx
        shutil.rmtree(output, ignore_errors=True)
        record, _ = clip_sfm.build_clip(small_clip, output, 10.0, 60.0, 1)
        assert record["status"] == "ok" and record["registered"] == 4  # registering fully is not enough
        assert field_of_view_deg(record["K"], 64, 48) == pytest.approx(fov, abs=0.1)
        caplog.clear()
        assert (load_sfm(output, small_clip) is not None) == usable
        if not usable:
            assert f"outside {MIN_FOV_DEG:g}-{MAX_FOV_DEG:g}°" in caplog.text


def test_the_corpus_median_focal_length_counts_only_clips_with_labels(tmp_path, counting, monkeypatch, capsys):
    rng = np.random.default_rng(2)
    corpus = tmp_path / "corpus"
    for name in ("a", "b", "c", "fisheye", "grey"):
        _frames_clip(corpus, name, [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(4)])
    specs = read_clip_index(corpus)
    output = tmp_path / "sfm"
    fx_of = {"a": 40.0, "b": 60.0, "c": 100.0, "fisheye": 16.0}
    for spec in specs:  # each clip reconstructed with its own focal length; "grey" fails
        counting.fx = fx_of.get(spec.name, 0.0)
        counting.failure = None if spec.name in fx_of else ReconstructionError("no model", "no_model")
        clip_sfm.build_clip(spec, output, 10.0, 60.0, 1)
    assert corpus_focal_per_width(output, specs) == (pytest.approx(60.0 / 64), 3)
    assert corpus_focal_per_width(tmp_path / "empty", specs) == (None, 0)
    # The command prints it and writes it beside summary.csv (every clip is stored: no COLMAP runs).
    monkeypatch.setattr("training.sfm.cli.colmap_available", lambda: (True, ""))
    assert main(["--clips", str(corpus), "--output", str(output)]) == 0
    assert "(ss3d_eval --corpus-fx-per-width 0.9375)" in capsys.readouterr().out
    summary = json.loads((output / "summary.json").read_text())
    assert summary == {"corpus_fx_per_width": pytest.approx(0.9375), "clips_with_labels": 3, "clips": 5}
    with (output / "summary.csv").open() as f:
        rows = {row["clip"]: row for row in csv.DictReader(f)}
    assert rows["fisheye"]["labels"] == "no" and "field of view" in rows["fisheye"]["reason"]
    assert float(rows["b"]["fx_per_width"]) == pytest.approx(0.9375)


def test_clips_sharing_evaluation_frames_are_not_reconstructed_nor_counted(tmp_path, counting, monkeypatch, caplog):
    """``--holdout-sequences``: the clip holding an evaluation frame gets no COLMAP run and one log line; an entry an
    earlier run without the guard left for it stays out of the summary's labels and the corpus focal length."""
    _, eval_rgb = eval_frames()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, eval_rgb)  # "copy" holds one evaluation frame, "photos" none
    shutil.copytree(EVAL_PAIR, tmp_path / "sequences" / EVAL_PAIR.name)
    output = tmp_path / "sfm"
    specs = {spec.name: spec for spec in read_clip_index(corpus)}
    counting.fx = 1000.0  # the clips are 640 px wide: a 35.5° field of view
    clip_sfm.build_clip(specs["copy"], output, 10.0, 60.0, 1)  # stored before the guard existed
    counting.fx = 500.0  # 65.2°
    monkeypatch.setattr("training.sfm.cli.colmap_available", lambda: (True, ""))
    with caplog.at_level("INFO"):
        assert main(["--clips", str(corpus), "--output", str(output),
                     "--holdout-sequences", str(tmp_path / "sequences")]) == 0
    assert counting.calls == 2  # the earlier "copy" build, then "photos" only
    held = [r.getMessage() for r in caplog.records if "held out" in r.getMessage()]
    assert len(held) == 1 and held[0].startswith("copy: ")
    assert "1 frames with evaluation sequence tum_fr1_xyz_pair1" in held[0]
    with (output / "summary.csv").open() as f:
        rows = {row["clip"]: row for row in csv.DictReader(f)}
    assert rows["copy"]["status"] == "held_out" and rows["copy"]["labels"] == "no"
    assert rows["copy"]["reason"].endswith("tum_fr1_xyz_pair1:1") and rows["photos"]["labels"] == "yes"
    summary = json.loads((output / "summary.json").read_text())
    assert summary == {"corpus_fx_per_width": pytest.approx(500.0 / 640), "clips_with_labels": 1, "clips": 1}
    with pytest.raises(SystemExit):  # sequences that cannot be read: refused before any COLMAP run
        main(["--clips", str(corpus), "--output", str(output), "--holdout-sequences", str(tmp_path / "none")])


def test_a_first_part_of_a_clip_is_reconstructed_alone_under_its_own_key(tmp_path, counting, small_clip):
    """A fine-tuning log's training part: COLMAP gets the frames before ``frame_end`` only, the arrays still cover the
    clip (the rest unregistered) and the key covers the range, so another range rebuilds and the whole clip's entry is
    another."""
    output = tmp_path / "sfm"
    record, built = clip_sfm.build_clip(small_clip, output, 10.0, 60.0, 1, frame_end=3)
    assert built and counting.frames_given == [3] and record["frame_end"] == 3 and record["frames"] == 4
    labels = load_sfm(output, small_clip)  # 3 of the 3 reconstructed frames: labels
    assert labels.registered.tolist() == [True, True, True, False] and np.isnan(labels.T_camera_world[3]).all()
    assert not clip_sfm.build_clip(small_clip, output, 10.0, 60.0, 1, frame_end=3)[1]  # reused
    assert clip_sfm.build_clip(small_clip, output, 10.0, 60.0, 1, frame_end=2)[1]  # another range: rebuilt
    assert clip_sfm.build_clip(small_clip, output, 10.0, 60.0, 1)[0]["frame_end"] is None  # the whole clip: rebuilt
    assert counting.frames_given == [3, 2, 4]
