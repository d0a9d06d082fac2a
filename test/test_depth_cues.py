"""Rank correlations of depth with ground truth, brightness and image row (ss3d_eval.depth_cues)."""

import numpy as np
import pytest

from ss3d_eval.depth_cues import MIN_CUE_PIXELS, depth_cues, image_depth_cues


def _scene(h=48, w=64):
    """Depth falling towards the image bottom (a floor), and an image that is brighter where it is nearer."""
    rows = np.arange(h, dtype=np.float64)[:, None].repeat(w, axis=1)
    depth = 5.0 - 4.0 * rows / (h - 1)
    grey = np.clip(255 - 40 * depth, 0, 255).astype(np.uint8)
    return depth, np.repeat(grey[..., None], 3, axis=2)


def test_a_floor_scene_reports_its_cues_with_their_signs():
    depth, rgb = _scene()
    mask = np.ones(depth.shape, bool)
    cues = depth_cues(depth, rgb, mask, gt_depth=depth)
    assert cues.with_gt == pytest.approx(1.0)
    assert cues.with_row < -0.99  # nearer towards the bottom
    assert cues.with_brightness < -0.99  # brighter is nearer
    inverted = depth_cues(1.0 / depth, rgb, mask, gt_depth=depth)  # "bright is far", "bottom is far"
    assert inverted.with_gt == pytest.approx(-1.0) and inverted.with_brightness > 0.99 and inverted.with_row > 0.99


def test_undefined_cues_are_none_and_shapes_are_checked():
    depth, rgb = _scene()
    flat = depth_cues(np.ones_like(depth), rgb, np.ones(depth.shape, bool), gt_depth=depth)
    assert (flat.with_gt, flat.with_brightness, flat.with_row) == (None, None, None)
    few = np.zeros(depth.shape, bool)
    few.flat[: MIN_CUE_PIXELS - 1] = True
    assert depth_cues(depth, rgb, few).with_row is None
    assert depth_cues(depth, rgb, np.ones(depth.shape, bool)).with_gt is None  # no ground truth given
    with pytest.raises(ValueError, match="shapes disagree"):
        depth_cues(depth[:-1], rgb, np.ones(depth.shape, bool))
    with pytest.raises(ValueError, match="ground truth"):
        depth_cues(depth, rgb, np.ones(depth.shape, bool), gt_depth=depth[:, :-1])


def test_image_cues_use_the_scored_pixels_at_the_ground_truth_size():
    gt, rgb = _scene()
    gt[:, :8] = 0.0  # invalid ground truth (REP 118) never counts
    low_res = gt[::2, ::2].copy()
    low_res[low_res == 0] = 1.0  # whatever the model says there is ignored
    cues = image_depth_cues(low_res, gt, rgb[::2, ::2], cap_m=10.0, min_m=1e-3)
    assert cues["model"]["with_gt"] > 0.95 and cues["ground_truth"]["with_gt"] is None
    assert cues["ground_truth"]["with_row"] == pytest.approx(-1.0) and cues["model"]["with_row"] < -0.95
