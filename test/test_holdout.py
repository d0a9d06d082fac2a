"""The evaluation hold-out (training/data/holdout.py): frames matched by content through resizing and re-encoding,
neighbouring and unrelated frames not matched, the ``training mvs`` and fit DataModule wiring on synthetic clips and
sequences (the scores' screening record: when a fit trusts the ``holdout`` column and when it screens again; the
``training sfm`` wiring is in test_sfm.py), and the shared web clips against the shared evaluation sequences (needs
../shared/data)."""

from __future__ import annotations

import csv
import json
import logging
import shutil

import cv2
import numpy as np
import pytest
import yaml
from conftest import FIXTURES, NEEDS_SHARED, REPO, SHARED_DATA

from training.corpus.curriculum import kept_segments, read_segment_scores
from training.corpus.mvs_cli import main as mvs_main
from training.data.clips import read_clip_index
from training.data.holdout import (
    MATCH_NCC,
    HoldoutIndex,
    find_overlaps,
    frame_fingerprint,
    screening_record_path,
    write_screening_record,
)
from training.fit import datamodule
from training.fit.cli import BASE_CONFIG
from training.fit.datamodule import ClipDataModule
from training.pipeline.schedule import Pipeline

EVAL_PAIR = FIXTURES / "tum_fr1_xyz_pair1"  # two real 640×480 frames, 64 ms apart


def _texture(seed: int, height: int = 480, width: int = 1200) -> np.ndarray:
    """A smooth random RGB texture (Gaussian-blurred noise, sigma 6 px), ``height×width×3`` uint8."""
    noise = np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 6) * 4 - 382, 0, 255).astype(np.uint8)


def _recompressed(rgb: np.ndarray, width: int, quality: int) -> np.ndarray:
    """``rgb`` resized (area) to ``width`` wide and through JPEG at ``quality``."""
    height = round(rgb.shape[0] * width / rgb.shape[1])
    small = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    return float(frame_fingerprint(a) @ frame_fingerprint(b))


def test_a_resized_recompressed_copy_matches_and_other_frames_do_not():
    scene = _texture(0)
    video = [scene[:, 8 * k: 8 * k + 640] for k in range(4)]  # a pan: 8 px (1.25 % of the width) per frame
    frame = video[1]
    assert _ncc(frame, _recompressed(frame, 320, 60)) >= MATCH_NCC
    assert _ncc(frame, _recompressed(frame, 1280, 92)) >= MATCH_NCC
    assert _ncc(frame, np.clip(frame * 0.7 + 20, 0, 255).astype(np.uint8)) >= MATCH_NCC  # gain and offset
    assert _ncc(frame, cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)) == pytest.approx(1.0, abs=1e-5)  # grey input
    for neighbour in (video[0], video[2]):
        assert _ncc(frame, neighbour) < MATCH_NCC
    assert _ncc(frame, _texture(1)[:, :640]) < 0.5


def test_a_flat_frame_matches_nothing_and_a_bad_shape_is_refused():
    flat = np.full((48, 64, 3), 128, np.uint8)
    assert not frame_fingerprint(flat).any()
    assert _ncc(flat, flat) == 0.0
    with pytest.raises(ValueError, match="H×W×3"):
        frame_fingerprint(np.zeros((4, 4, 4), np.uint8))


def eval_frames():
    index = HoldoutIndex.from_sequences([EVAL_PAIR])
    rgb = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted((EVAL_PAIR / "rgb").iterdir())]
    return index, rgb


def write_corpus(root, eval_rgb):
    """``copy``: a 30 fps video whose 5th frame (between two 10 Hz samples) is the second evaluation frame, resized
    and re-encoded, the rest smooth texture; ``photos``: frames of another scene, no frame shared."""
    (root / "copy").mkdir(parents=True)
    frames = [_texture(2, 480, 720)[:, 4 * k: 4 * k + 640] for k in range(9)]
    frames[4] = _recompressed(eval_rgb[1], 640, 80)
    writer = cv2.VideoWriter(str(root / "copy" / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    (root / "photos" / "frames").mkdir(parents=True)
    for k in range(3):
        cv2.imwrite(str(root / "photos" / "frames" / f"{k:02d}.jpg"),
                    cv2.cvtColor(_texture(3)[:, 10 * k: 10 * k + 640], cv2.COLOR_RGB2BGR))


def test_find_overlaps_reads_every_source_frame_of_a_clip(tmp_path):
    index, eval_rgb = eval_frames()
    assert index.sequences == ("tum_fr1_xyz_pair1",) and index.fingerprints.shape == (2, 1024)
    write_corpus(tmp_path, eval_rgb)
    specs = {s.name: s for s in read_clip_index(tmp_path)}
    assert len(list(specs["copy"].iter_frames(10.0))) == 3  # training's 10 Hz samples skip the copied frame
    overlaps = find_overlaps(specs["copy"], index)
    assert [(o.sequence, o.shared_frames) for o in overlaps] == [("tum_fr1_xyz_pair1", 1)]
    assert overlaps[0].best_ncc >= MATCH_NCC
    assert find_overlaps(specs["photos"], index) == []


def _no_second_screening(*args, **kwargs):
    raise AssertionError("the fit screened clips the MVS scores' record vouches for")


def test_mvs_command_holds_out_a_clip_sharing_evaluation_frames(tmp_path, caplog, monkeypatch):
    _, eval_rgb = eval_frames()
    write_corpus(tmp_path / "corpus", eval_rgb)
    shutil.copytree(EVAL_PAIR, tmp_path / "sequences" / "tum_fr1_xyz_pair1")
    out = tmp_path / "mvs" / "scores.csv"
    with caplog.at_level(logging.INFO, logger="training.corpus.mvs_cli"):
        assert mvs_main(["--clips", str(tmp_path / "corpus"), "--output", str(out), "--pairs-per-segment", "2",
                         "--holdout-sequences", str(tmp_path / "sequences")]) == 0
    held = [r.getMessage() for r in caplog.records if "held out" in r.getMessage()]
    assert len(held) == 1 and "copy" in held[0] and "1 frames with evaluation sequence tum_fr1_xyz_pair1" in held[0]
    rows = list(csv.DictReader(out.open()))
    holdout = {r["name"]: r["holdout"] for r in rows}
    assert holdout == {"copy": "tum_fr1_xyz_pair1:1", "photos": ""}
    assert set(kept_segments(read_segment_scores(out), min_score=0.0)) == {"photos"}  # dropped whatever the minimum
    assert "`copy`: tum_fr1_xyz_pair1:1" in out.with_suffix(".md").read_text()
    manifest = json.loads(out.with_name("manifest.json").read_text())
    assert [c["name"] for c in manifest["clips"]] == ["photos"]
    record = tmp_path / "mvs" / "scores.holdout.json"
    assert screening_record_path(out) == record
    assert json.loads(record.read_text()) == {"holdout_sequences": [str((tmp_path / "sequences").resolve())]}
    # A fit reading these scores with the same sequences (here named relative to its working directory) trains
    # without the held-out clip and does not screen again.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datamodule, "screen_against", _no_second_screening)
    with caplog.at_level(logging.INFO, logger="training.fit.datamodule"):
        data = ClipDataModule(root=str(tmp_path / "corpus"), mvs_scores=str(out), mvs_min_score=0.0,
                              holdout_sequences=["sequences"])
        assert [spec.name for spec in data.select_clips()[0]] == ["photos"]
    assert "holdout_sequences not checked again" in caplog.text


def test_a_fit_screens_again_unless_the_scores_record_names_its_sequences(tmp_path, caplog):
    """``training mvs`` without ``--holdout-sequences`` leaves the ``holdout`` column empty for every clip, the
    evaluation frame's copy included; its record says nothing was screened, so the fit screens and drops the copy.
    The same when the record is missing (scores of an older run) or names other paths than the fit's."""
    _, eval_rgb = eval_frames()
    corpus, sequences, out = tmp_path / "corpus", tmp_path / "sequences", tmp_path / "mvs" / "scores.csv"
    write_corpus(corpus, eval_rgb)
    shutil.copytree(EVAL_PAIR, sequences / "tum_fr1_xyz_pair1")
    assert mvs_main(["--clips", str(corpus), "--output", str(out), "--pairs-per-segment", "2"]) == 0
    assert {r["name"]: r["holdout"] for r in csv.DictReader(out.open())} == {"copy": "", "photos": ""}
    record = screening_record_path(out)
    assert json.loads(record.read_text()) == {"holdout_sequences": []}
    assert set(kept_segments(read_segment_scores(out), min_score=0.0)) == {"copy", "photos"}

    def fit_clips(reason: str) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="training.fit.datamodule"):
            data = ClipDataModule(root=str(corpus), mvs_scores=str(out), mvs_min_score=0.0,
                                  holdout_sequences=[str(sequences)])
            names = [spec.name for spec in data.select_clips()[0]]
        checked = [r.getMessage() for r in caplog.records if "holdout_sequences checked here" in r.getMessage()]
        assert len(checked) == 1 and reason in checked[0], caplog.text
        assert "not checked again" not in caplog.text
        return names

    assert fit_clips("does not name") == ["photos"]
    record.unlink()
    assert fit_clips("is missing") == ["photos"]
    shutil.copytree(sequences, tmp_path / "elsewhere")  # the same frames under another path than the fit names
    write_screening_record(out, [tmp_path / "elsewhere"])
    assert fit_clips("does not name") == ["photos"]
    record.write_text("not json")
    assert fit_clips("cannot be read") == ["photos"]


def test_the_pipelines_fits_do_not_screen_again(tmp_path, monkeypatch):
    """``training pipeline``'s mvs step writes the record where its fits look (beside ``data.mvs_scores``) and its
    fits are given the same sequences, so they trust the scores: the mvs command and the first fit's DataModule are
    built from the pipeline's own command lines (no training)."""
    _, eval_rgb = eval_frames()
    write_corpus(tmp_path / "corpus", eval_rgb)
    shutil.copytree(EVAL_PAIR, tmp_path / "sequences" / "tum_fr1_xyz_pair1")
    monkeypatch.chdir(tmp_path)  # relative paths, as make train passes them

    class FirstFit(Exception):
        pass

    def run(self, command):
        args = command[3:]
        if command[2:4] == ["training", "mvs"]:
            assert mvs_main(args[1:]) == 0
            return
        assert command[2:4] == ["training", "fit"], command
        data_args = {a.removeprefix("--data."): v for a, v in zip(args, args[1:]) if a.startswith("--data.")}
        assert json.loads(data_args["holdout_sequences"]) == ["sequences"]
        monkeypatch.setattr(datamodule, "screen_against", _no_second_screening)
        data = ClipDataModule(root=json.loads(data_args["root"]), mvs_scores=data_args["mvs_scores"],
                              mvs_min_score=0.0, holdout_sequences=json.loads(data_args["holdout_sequences"]))
        assert [spec.name for spec in data.select_clips()[0]] == ["photos"]
        raise FirstFit

    monkeypatch.setattr(Pipeline, "_run", run)
    pipeline = Pipeline(tmp_path / "run", ["corpus"], ["sequences"], [], min_score=0.0, use_sfm=False,
                        mvs_args=["--pairs-per-segment", "2"])
    with pytest.raises(FirstFit):
        pipeline.run()
    assert (tmp_path / "run" / "mvs" / "scores.holdout.json").is_file()


def _labelled(root, clips: dict[str, str]) -> None:
    """Write ``root/clips.csv`` labelling the clips ``translating`` (name -> kind)."""
    rows = "".join(f"{name},{kind},translating,,MIT\n" for name, kind in clips.items())
    (root / "clips.csv").write_text("name,kind,label,consecutive,licence\n" + rows)


def test_a_datamodule_selecting_by_label_drops_clips_sharing_evaluation_frames(tmp_path, caplog):
    _, eval_rgb = eval_frames()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, eval_rgb)
    (corpus / "broken").mkdir()
    (corpus / "broken" / "clip.mp4").write_bytes(b"not a video" * 100)
    _labelled(corpus, {"copy": "video", "photos": "frames", "broken": "video"})
    data = ClipDataModule(root=str(corpus), holdout_sequences=[str(EVAL_PAIR)])
    with caplog.at_level(logging.INFO):
        assert [spec.name for spec in data.select_clips()[0]] == ["photos"]
        assert [spec.name for spec in data.select_clips()[0]] == ["photos"]  # prepare_data and setup: checked once
    held = [r.getMessage() for r in caplog.records if "held out" in r.getMessage()]
    assert len(held) == 1 and held[0].startswith("copy: ")
    assert "1 frames with evaluation sequence tum_fr1_xyz_pair1" in held[0]
    unreadable = [r.getMessage() for r in caplog.records if "cannot be checked" in r.getMessage()]
    assert len(unreadable) == 1 and unreadable[0].startswith("broken: ")  # not known to be clean: left out
    assert "no evaluation hold-out" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="training.fit.datamodule"):  # no guard: said once, nothing dropped
        data = ClipDataModule(root=str(corpus))
        assert [spec.name for spec in data.select_clips()[0]] == ["copy", "photos", "broken"]
        data.select_clips()
    assert len([r for r in caplog.records if r.getMessage().startswith("no evaluation hold-out")]) == 1
    with pytest.raises(ValueError, match="data.holdout_sequences .*no_sequences"):
        ClipDataModule(root=str(corpus), holdout_sequences=str(tmp_path / "no_sequences")).select_clips()


@pytest.fixture(scope="module")
def shared_index() -> HoldoutIndex:
    """The shared evaluation sequences' fingerprints (271 frames, read once for this module's tests)."""
    if not (SHARED_DATA / "web_clips").is_dir():
        pytest.skip(NEEDS_SHARED)
    return HoldoutIndex.from_sequences([SHARED_DATA / "sequences"])


def test_only_ddad_driving_triplet_shares_frames_with_the_shared_evaluation_sequences(shared_index):
    """The frame-folder web clips (the videos are covered by benchmarks/holdout_threshold.py, a minute on 2 cores):
    ddad_driving_triplet holds dgp_scene02_front's 3 frames and no other camera's; neg_static_ddad_stopped, another
    DGP scene of the same car, holds none."""
    index = shared_index
    found = {s.name: find_overlaps(s, index) for s in read_clip_index(SHARED_DATA / "web_clips") if s.kind == "frames"}
    assert "neg_static_ddad_stopped" in found
    flagged = {name: [(o.sequence, o.shared_frames) for o in overlaps] for name, overlaps in found.items() if overlaps}
    assert flagged == {"ddad_driving_triplet": [("dgp_scene02_front", 3)]}


def test_base_config_keeps_the_shared_evaluation_frames_out_of_a_fit_by_label(monkeypatch, shared_index):
    """``training fit --config base.yaml`` without MVS scores selects by label; ddad_driving_triplet (labelled
    ``translating``) is dropped, another translating frame clip kept (two clips: the guard reads every frame). The
    sequences it names are :func:`shared_index`'s, read once."""
    monkeypatch.chdir(REPO)  # the config's paths are relative to the repository root, as make and the docs run it
    data_config = yaml.safe_load(BASE_CONFIG.read_text())["data"]
    assert data_config.get("mvs_scores") is None and "translating" in data_config["labels"]
    read = []
    monkeypatch.setattr(HoldoutIndex, "from_sequences", lambda paths: read.append(paths) or shared_index)
    data = ClipDataModule(**{**data_config, "clips": ["ddad_driving_triplet", "monst3r_lady_running"]})
    assert [spec.name for spec in data.select_clips()[0]] == ["monst3r_lady_running"]
    assert [[(REPO / p).resolve() for p in paths] for paths in read] == [[(SHARED_DATA / "sequences").resolve()]]
