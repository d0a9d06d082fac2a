"""The SIFT check of training flow (training.labels.flow_verification) and its use when clips are loaded."""

import cv2
import numpy as np
import pytest

from training.data.clip_frames import load_clip_frames
from training.data.clips import ClipSpec
from training.labels.flow_verification import (
    MIN_CHECKED_MATCHES,
    check_flow,
    sparse_matches,
    verify_pair_masks,
)
from training.labels.optical_flow import pair_flows

SIZE = (96, 64)  # training size (width, height) of these tests


def _grid_points(n=20, h=64, w=96):
    rng = np.random.default_rng(0)
    return np.stack([rng.uniform(5, w - 5, n), rng.uniform(5, h - 5, n)], axis=1).astype(np.float32)


def test_matches_carried_by_the_flow_are_trusted_and_contradicting_ones_are_not():
    flow = np.broadcast_to(np.array([3.0, -1.0], np.float16), (64, 96, 2))
    valid = np.ones((64, 96), bool)
    pts_a = _grid_points()
    agreeing = check_flow(flow, valid, pts_a, pts_a + [3.0, -1.0])
    assert (agreeing.n_checked, agreeing.n_agreeing, agreeing.trusted) == (20, 20, True)
    wrong = pts_a + [3.0, -1.0]
    wrong[:15] += 5.0  # 15 of 20 matches land 7 px away from where the flow carries them
    contradicted = check_flow(flow, valid, pts_a, wrong)
    assert (contradicted.n_agreeing, contradicted.trusted) == (5, False)


def test_only_matches_on_consistent_flow_count_and_too_few_cannot_confirm():
    flow = np.zeros((64, 96, 2), np.float32)
    valid = np.zeros((64, 96), bool)
    valid[:, 48:] = True
    pts_a = _grid_points(40)
    result = check_flow(flow, valid, pts_a, pts_a.copy())
    assert result.n_checked == int((np.rint(pts_a[:, 0]) >= 48).sum()) and result.trusted
    few = pts_a[: MIN_CHECKED_MATCHES - 1]
    assert not check_flow(flow, np.ones_like(valid), few, few.copy()).trusted


def test_real_consecutive_frames_keep_their_flow_and_a_wrong_flow_is_masked_out(sample_frames):
    small = np.stack([cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA) for f in sample_frames])
    fwd, fwd_ok, bwd, bwd_ok = pair_flows(small)
    matches = [sparse_matches(a, b, *SIZE) for a, b in zip(sample_frames[:-1], sample_frames[1:])]
    assert all(len(m[0]) >= MIN_CHECKED_MATCHES for m in matches)
    kept_fwd, kept_bwd, cleared = verify_pair_masks(fwd, fwd_ok, bwd, bwd_ok, matches)
    assert cleared == 0 and np.array_equal(kept_fwd, fwd_ok) and np.array_equal(kept_bwd, bwd_ok)
    shifted = fwd.astype(np.float32) + 6.0
    out_fwd, out_bwd, cleared = verify_pair_masks(shifted, fwd_ok, bwd, bwd_ok, matches)
    assert cleared == len(fwd) and not out_fwd.any() and np.array_equal(out_bwd, bwd_ok)
    assert fwd_ok.any()  # inputs untouched


def test_size_and_count_mismatches_are_errors(sample_frames):
    with pytest.raises(ValueError, match="differ in size"):
        sparse_matches(sample_frames[0], sample_frames[1][:-2], *SIZE)
    flows = np.zeros((2, 64, 96, 2), np.float16)
    masks = np.ones((2, 64, 96), bool)
    with pytest.raises(ValueError, match="1 match sets for 2 pairs"):
        verify_pair_masks(flows, masks, flows, masks, [(np.zeros((0, 2)), np.zeros((0, 2)))])


def test_a_jump_between_unrelated_views_loses_its_flow_when_a_clip_is_loaded(tmp_path, sample_frames):
    """Frames 0 -> 1 slide 4 px over a real texture; frame 2 shows another part of the video: no flow for 1 <-> 2."""
    texture = sample_frames[0]
    views = [texture[100:292, 200:488], texture[100:292, 204:492], cv2.flip(sample_frames[2][300:492, 600:888], 0)]
    (tmp_path / "frames").mkdir()
    for k, view in enumerate(views):
        cv2.imwrite(str(tmp_path / "frames" / f"{k:03d}.png"), cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
    spec = ClipSpec("jump", "frames", "translating", False, tmp_path)
    checked = load_clip_frames(spec, 64, 96, 10.0)
    unchecked = load_clip_frames(spec, 64, 96, 10.0, flow_match_check=False)
    assert np.array_equal(checked.valid_forward[0], unchecked.valid_forward[0]) and checked.valid_forward[0].any()
    assert not checked.valid_forward[1].any() and not checked.valid_backward[1].any()
    assert np.array_equal(checked.frames, unchecked.frames)
