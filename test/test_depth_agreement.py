"""Depth self-check against triangulated flow on a clip corpus (training.selfcheck.depth_agreement)."""

import json

import cv2
import numpy as np
import pytest

from training.selfcheck.depth_agreement import _main, pair_agreement


def _labels(shape=(32, 48)):
    """Two depth layers (1 and 2 units), a quarter of the pixels near, everything labelled."""
    depth = np.full(shape, 2.0)
    depth[: shape[0] // 2, : shape[1] // 2] = 1.0
    return depth, np.ones(shape, bool)


def test_a_scaled_copy_of_the_labels_agrees_exactly():
    labels, mask = _labels()
    result = pair_agreement(3.0 * labels, labels, mask)
    assert result.abs_rel == pytest.approx(0.0, abs=1e-12) and result.delta1 == 1.0
    assert result.spearman == pytest.approx(1.0)
    # Constant: median 2, so the near quarter is off by 100 %: AbsRel 0.25, δ1 0.75.
    assert result.abs_rel_constant == pytest.approx(0.25) and result.delta1_constant == pytest.approx(0.75)


def test_a_constant_prediction_scores_as_the_constant_and_an_inverted_one_anticorrelates():
    labels, mask = _labels()
    flat = pair_agreement(np.full_like(labels, 7.0), labels, mask)
    assert flat.abs_rel == pytest.approx(flat.abs_rel_constant) and flat.spearman is None
    inverted = pair_agreement(1.0 / labels, labels, mask)
    assert inverted.spearman == pytest.approx(-1.0) and inverted.abs_rel > inverted.abs_rel_constant


def test_unlabelled_or_mismatched_input():
    labels, mask = _labels()
    sparse = np.zeros_like(mask)
    sparse[0, :10] = True
    assert pair_agreement(labels, labels, sparse) is None
    with pytest.raises(ValueError, match="shapes differ"):
        pair_agreement(labels[:-1], labels, mask)


def _two_plane_clip(folder, sample_frames, n_frames=4):
    """A camera sliding sideways past two fronto-parallel textured planes: the far one moves 4 px per frame, the
    near quarter of the image 8 px (twice as close), at 192×128 (the tiny network resizes to 96×64)."""
    texture = cv2.resize(sample_frames[0], (480, 270), interpolation=cv2.INTER_AREA)
    (folder / "frames").mkdir(parents=True)
    for k in range(n_frames):
        frame = texture[100:228, 20 + 4 * k : 212 + 4 * k].copy()
        frame[:64, :96] = texture[:64, 200 + 8 * k : 296 + 8 * k]
        cv2.imwrite(str(folder / "frames" / f"{k:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def test_two_planes_are_labelled_and_the_constant_misses_the_near_one(tmp_path, tiny_checkpoint, sample_frames):
    corpus = tmp_path / "clips"
    _two_plane_clip(corpus / "planes", sample_frames)
    (corpus / "clips.csv").write_text("name,kind,label,consecutive,licence\nplanes,frames,translating,True,MIT\n")
    out = tmp_path / "agreement.json"
    assert _main(["--checkpoint", str(tiny_checkpoint), "--root", str(corpus), "--pairs-per-clip", "3",
                  "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    (clip,) = report["clips"]
    assert clip["n_pairs"] + clip["n_unlabelled"] == 3 and clip["n_pairs"] >= 2
    assert 0.15 < clip["abs_rel_constant"] < 0.35
    assert clip["abs_rel"] is not None and report["summary"]["n_pairs"] == clip["n_pairs"]


def test_empty_selection_is_a_usage_error(tmp_path, tiny_checkpoint):
    (tmp_path / "clips.csv").write_text("name,kind,label,consecutive,licence\nphotos,frames,static,False,MIT\n")
    with pytest.raises(SystemExit):
        _main(["--checkpoint", str(tiny_checkpoint), "--root", str(tmp_path)])
