"""The corpus stage: clip index over any source, shot cuts, MVS proxy components, MVS filter, curriculum schedule,
training cache. Core cases run on the bundled real dashcam sample and the TUM fixture; the web-clip cases need
../shared/data."""

from __future__ import annotations

import csv
import os
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, NEEDS_SHARED, SAMPLE_VIDEO, SHARED_DATA

from ss3d_core.geometry.model_selection import fit_two_view_models, gric
from ss3d_core.geometry.pair_signal import pair_gap, pair_signal
from ss3d_core.io.video import iter_video_frames
from training.corpus.cache import build_entry, entry_dir, load_entry
from training.corpus.curriculum import (
    CurriculumSampler,
    curriculum_fraction,
    kept_segments,
    read_segment_scores,
    window_score,
)
from training.corpus.mvs import score_segments, segment_pairs
from training.corpus.mvs_cli import main as mvs_main
from training.corpus.mvs_cli import roc_auc
from training.data.clips import read_clip_index, read_clip_indices
from training.data.shots import content_scores, shot_segments, triplet_targets
from training.fit.datamodule import ClipDataModule, split_indices

WEB_CLIPS = SHARED_DATA / "web_clips"


@pytest.fixture(scope="module")
def dashcam():
    """Every 5th frame (0.2 s apart) of the bundled real dashcam clip, 960×540 RGB: a forward-translating camera."""
    return [rgb for _, rgb in iter_video_frames(SAMPLE_VIDEO, stride=5, max_frames=8)]


def _tum_frame():
    return cv2.cvtColor(cv2.imread(str(next((FIXTURES / "tum_fr1_xyz" / "rgb").iterdir()))), cv2.COLOR_BGR2RGB)


def _rotated(rgb, degrees):
    """The view of a camera rotated about its vertical axis (K: fx = 0.8 W, centred): a homography, no parallax."""
    h, w = rgb.shape[:2]
    K = np.array([[0.8 * w, 0, w / 2], [0, 0.8 * w, h / 2], [0, 0, 1]])
    a = np.radians(degrees)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return cv2.warpPerspective(rgb, K @ R @ np.linalg.inv(K), (w, h), flags=cv2.INTER_LINEAR)


def test_gric_prefers_the_homography_for_a_rotation_and_f_for_a_translating_camera(dashcam):
    assert gric(np.zeros(10), 1.0, 3, 7) > gric(np.zeros(10), 1.0, 2, 8)  # noise-free data: the simpler manifold
    with pytest.raises(ValueError):
        gric(np.zeros(3), 0.0, 3, 7)
    frame = _tum_frame()
    from ss3d_core.geometry.features import extract_features, match_features

    a, b = match_features(extract_features(frame), extract_features(_rotated(frame, 4.0)))
    assert fit_two_view_models(a, b).gric_preference < 0
    a, b = match_features(extract_features(dashcam[0]), extract_features(dashcam[3]))
    assert fit_two_view_models(a, b).gric_preference > 0
    assert fit_two_view_models(a[:5], b[:5]).F is None  # too few correspondences: a failure, not an exception


def test_pair_signal_components_on_real_frames(dashcam):
    moving = pair_signal(dashcam[0], dashcam[3])
    assert not moving.static and moving.gric_preference > 0 and moving.signal > 0
    assert moving.parallax_deg > 0.1 and 0.5 < moving.rigid_ratio <= 1 and moving.texture > 0
    frame = _tum_frame()
    rotation = pair_signal(frame, _rotated(frame, 4.0))
    assert rotation.gric_preference < 0 and rotation.signal == 0 and rotation.parallax_deg < 0.1
    noise = np.random.default_rng(0).normal(0, 2, frame.shape)
    still = pair_signal(frame, np.clip(frame + noise, 0, 255).astype(np.uint8))
    assert still.static and still.signal == 0
    # A moving object on a still background: the camera is still (median displacement), so no signal.
    object_moves = frame.copy()
    object_moves[100:220, 100:260] = frame[100:220, 130:290]
    assert pair_signal(frame, object_moves).signal == 0
    blank = np.full_like(frame, 128)
    assert pair_signal(blank, blank).signal == 0 and pair_signal(blank, blank).n_matches == 0  # no texture
    with pytest.raises(ValueError, match="differ in size"):
        pair_signal(frame, frame[:-1])


def test_shot_cut_splits_a_clip_and_continuous_motion_does_not(dashcam):
    tum = cv2.resize(_tum_frame(), dashcam[0].shape[1::-1])
    frames = dashcam[:5] + [tum, tum, tum]
    scores = content_scores(frames)
    assert shot_segments(scores, len(frames)) == [(0, 5), (5, 8)]
    assert shot_segments(content_scores(dashcam), len(dashcam)) == [(0, len(dashcam))]
    with pytest.raises(ValueError):
        shot_segments(scores, 3)


def test_triplet_targets_lie_in_one_segment_and_one_kept_span():
    segments = [(0, 5), (5, 8)]  # a cut before frame 5
    assert triplet_targets(segments, 8) == [1, 2, 3, 6]
    assert triplet_targets([], 4) == [1, 2]  # no segments: the whole clip is one
    assert triplet_targets(segments, 8, spans=[(2, 8)]) == [3, 6]
    assert triplet_targets(segments, 8, spans=[(0, 4), (4, 8)]) == [1, 2, 6]  # 3 needs frames 2 and 4: two spans
    assert triplet_targets(segments, 8, spans=[]) == []  # nothing kept
    assert triplet_targets([(0, 2)], 2) == []  # shorter than a triplet
    # The DataModule's split: each clip's last targets validate, the rest train.
    clips = [SimpleNamespace(segments=segments, frames=np.zeros((8, 1))), SimpleNamespace(segments=[], frames=[0] * 4)]
    assert split_indices(clips, 0.25) == ([(0, 1), (0, 2), (0, 3), (1, 1)], [(0, 6), (1, 2)])
    assert split_indices(clips, 0.0, kept=[[(2, 8)], []]) == ([(0, 3), (0, 6)], [])


def test_pairs_span_half_a_second_inside_segments():
    assert pair_gap(10.0, True) == 5 and pair_gap(None, True) == 1 and pair_gap(30.0, False) == 1
    assert segment_pairs((10, 13), gap=5) == [(10, 12)]  # a short segment: its ends
    pairs = segment_pairs((0, 100), gap=5, pairs_per_segment=4)
    assert pairs[0] == (0, 5) and pairs[-1] == (94, 99) and len(pairs) == 4
    assert segment_pairs((0, 1), gap=5) == []


def test_score_segments_translating_beats_rotation(dashcam):
    frame = _tum_frame()
    rotation = [_rotated(frame, d) for d in range(0, 8, 2)]
    translating, _ = score_segments(dashcam, [(0, len(dashcam))], gap=3)
    rotating, _ = score_segments(rotation, [(0, len(rotation))], gap=2)
    assert translating.mvs_score > 0.05 > rotating.mvs_score and rotating.f_preferred_fraction == 0
    assert roc_auc([translating.mvs_score, rotating.mvs_score], [True, False]) == 1.0
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5 and roc_auc([1.0], [True]) is None


def _write_corpus(root, dashcam):
    """A corpus without clips.csv: a video, a frame folder and a TUM-layout sequence (kinds detected)."""
    (root / "drive").mkdir(parents=True)
    shutil.copy(SAMPLE_VIDEO, root / "drive" / "clip.mp4")
    (root / "photos" / "frames").mkdir(parents=True)
    for k, rgb in enumerate(dashcam[:4]):
        cv2.imwrite(str(root / "photos" / "frames" / f"{k:02d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    shutil.copytree(FIXTURES / "tum_fr1_xyz_pair1", root / "tum_pair")
    (root / "notes").mkdir()


def test_clip_index_detects_kinds_without_clips_csv(tmp_path, dashcam):
    _write_corpus(tmp_path / "corpus", dashcam)
    specs = {s.name: s for s in read_clip_index(tmp_path / "corpus")}
    assert {n: (s.kind, s.consecutive, s.label) for n, s in specs.items()} == {
        "drive": ("video", True, None), "photos": ("frames", False, None), "tum_pair": ("tum", True, None)}
    stamped = list(specs["tum_pair"].iter_stamped_frames(30.0))  # frames 64 ms apart: both kept at 30 Hz
    assert [s for s, _ in stamped] == pytest.approx([1305031102.211214, 1305031102.275326])
    assert stamped[0][1].shape == (480, 640, 3)
    assert len(list(specs["tum_pair"].iter_stamped_frames(10.0))) == 1  # subsampled by stamp at 10 Hz
    assert [s.name for s in read_clip_index(tmp_path / "corpus" / "tum_pair")] == ["tum_pair"]  # a clip folder itself
    with pytest.raises(ValueError, match="appears twice"):
        read_clip_indices([tmp_path / "corpus", tmp_path / "corpus"])
    with pytest.raises(FileNotFoundError):
        read_clip_index(tmp_path / "corpus" / "notes")


def test_mvs_command_writes_scores_manifest_and_report(tmp_path, dashcam):
    _write_corpus(tmp_path / "corpus", dashcam)
    (tmp_path / "corpus" / "broken").mkdir()
    (tmp_path / "corpus" / "broken" / "clip.mp4").write_bytes(b"not a video")
    out = tmp_path / "mvs" / "scores.csv"
    assert mvs_main(["--clips", str(tmp_path / "corpus"), "--output", str(out), "--pairs-per-segment", "3"]) == 0
    rows = list(csv.DictReader(out.open()))
    clip_rows = {r["name"]: r for r in rows if r["segment"] == "all"}
    assert set(clip_rows) == {"drive", "photos", "tum_pair"}
    assert {"mvs_score", "parallax_deg", "gric_preference", "rigid_ratio", "static_fraction", "texture"} <= set(rows[0])
    assert float(clip_rows["drive"]["mvs_score"]) > 0
    assert "broken" in (tmp_path / "mvs" / "scores.md").read_text()
    assert (tmp_path / "mvs" / "manifest.json").is_file()


def _scores_csv(path, rows):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["name", "segment", "start", "end", "mvs_score"])
        writer.writeheader()
        writer.writerows(dict(zip(["name", "segment", "start", "end", "mvs_score"], r)) for r in rows)


def test_mvs_filter_keeps_segments_above_the_threshold(tmp_path):
    _scores_csv(tmp_path / "scores.csv", [("a", "all", 0, 20, 0.2), ("a", "0", 0, 10, 0.4), ("a", "1", 10, 20, 0.01),
                                          ("b", "all", 0, 5, 0.02), ("c", "all", 0, 9, 0.3)])
    scores = read_segment_scores(tmp_path / "scores.csv")
    assert kept_segments(scores, 0.05) == {"a": [(0, 10)], "c": [(0, 9)]}
    assert window_score(scores["a"], 12) == 0.01 and window_score(scores["c"], 3) == 0.3
    assert window_score([], 0) is None
    (tmp_path / "bad.csv").write_text("name,score\nx,1\n")
    with pytest.raises(ValueError, match="missing columns"):
        read_segment_scores(tmp_path / "bad.csv")


def test_curriculum_moves_from_the_strongest_windows_to_all():
    assert curriculum_fraction(0, 0.25, 4) == 0.25 and curriculum_fraction(2, 0.25, 4) == 0.625
    assert curriculum_fraction(9, 0.25, 4) == 1.0 and curriculum_fraction(0, 0.25, 0) == 1.0
    with pytest.raises(ValueError):
        curriculum_fraction(0, 0.0, 4)
    scores = np.arange(20, dtype=float)  # item i has score i
    sampler = CurriculumSampler(scores, start_fraction=0.25, ramp_epochs=3, seed=0)
    sampler.set_epoch(0)
    first = list(sampler)
    assert len(first) == 20 and set(first) == set(range(15, 20))  # the strongest quarter, tiled to the epoch length
    assert set(list(sampler)) == set(range(10, 20))  # __iter__ advanced to epoch 1: half
    sampler.set_epoch(3)
    assert set(list(sampler)) == set(range(20))
    sampler.set_epoch(0)
    assert list(sampler) == first  # seeded per epoch: reproducible


def test_cache_is_built_once_reused_and_invalidated(tmp_path, dashcam):
    _write_corpus(tmp_path / "corpus", dashcam)
    (spec,) = [s for s in read_clip_index(tmp_path / "corpus") if s.name == "photos"]
    cache = tmp_path / "cache"
    folder, built = build_entry(spec, cache, 64, 96, 10.0, False)
    assert built and build_entry(spec, cache, 64, 96, 10.0, False) == (folder, False)
    clip = load_entry(folder)
    assert isinstance(clip.frames, np.memmap) and clip.frames.shape == (4, 64, 96, 3)
    assert clip.flow_forward.shape == (3, 64, 96, 2) and clip.flow_forward.dtype == np.float16
    assert entry_dir(cache, spec, 128, 224, 10.0, False) != folder  # another training size
    assert entry_dir(cache, spec, 64, 96, 5.0, False) != folder  # another rate
    frame = spec.folder / "frames" / "00.jpg"
    os.utime(frame, ns=(frame.stat().st_atime_ns, frame.stat().st_mtime_ns + 10**9))  # copied or restored
    assert entry_dir(cache, spec, 64, 96, 10.0, False) == folder
    frame.write_bytes(frame.read_bytes() + b"\0")  # the clip changed
    assert entry_dir(cache, spec, 64, 96, 10.0, False) != folder
    assert not list(cache.rglob(".photos-*"))  # no temporary folder left behind


def test_datamodule_trains_on_mvs_selected_segments_with_a_curriculum(tmp_path, dashcam):
    _write_corpus(tmp_path / "corpus", dashcam)
    _scores_csv(tmp_path / "scores.csv", [("photos", "all", 0, 4, 0.3), ("drive", "all", 0, 45, 0.0),
                                          ("tum_pair", "all", 0, 2, 0.5)])
    data = ClipDataModule(root=str(tmp_path / "corpus"), mvs_scores=str(tmp_path / "scores.csv"), height=64,
                          width=96, val_fraction=0.0, batch_size=1, curriculum_start_fraction=0.5,
                          curriculum_ramp_epochs=2, cache_dir=str(tmp_path / "cache"), flow_match_check=False)
    data.prepare_data()
    data.setup()
    assert data.clip_names() == ["photos"]  # drive is below the threshold, tum_pair too short for a triplet
    assert list(data.train_scores) == [0.3, 0.3]
    assert isinstance(data.train_dataloader().sampler, CurriculumSampler)


@pytest.mark.skipif(not WEB_CLIPS.is_dir(), reason=NEEDS_SHARED)
def test_mvs_proxy_on_real_negative_and_translating_web_clips():
    specs = {s.name: s for s in read_clip_index(WEB_CLIPS)}
    from training.data.manifest import decode_for_analysis

    scores = {}
    for name in ("neg_static_sam2_dog", "neg_rotation_paragliding", "udacity_highway_solidwhiteright"):
        entry, frames = decode_for_analysis(specs[name], 10.0)
        clip, _ = score_segments(frames, entry.segments, pair_gap(entry.rate_hz, entry.consecutive), 4)
        scores[name] = clip
    assert scores["neg_static_sam2_dog"].static_fraction > 0.5 and scores["neg_static_sam2_dog"].mvs_score == 0
    assert scores["neg_rotation_paragliding"].f_preferred_fraction < 0.5
    assert scores["neg_rotation_paragliding"].mvs_score < 0.05
    assert scores["udacity_highway_solidwhiteright"].mvs_score > 0.05
