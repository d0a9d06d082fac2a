"""Multi-view signal v2 (training/corpus/rigidity.py and ``python -m training mvs --sfm-dir``): the share of trusted
flow that a reconstruction's rigid motion explains. Scenes are a real dashcam frame seen as two fronto-parallel planes
(near left half, far right half) by a camera moving sideways, so the flow has parallax and an occlusion edge and its
true rigid motion is known; a "moving object" is a patch of the near plane that also moves down."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from training.corpus.mvs_cli import main as mvs_main
from training.corpus.rigidity import RigidityCheck, rigid_flow_counts, segment_statistics
from training.data.clips import read_clip_index
from training.sfm.store import entry_key, write_entry

W, H = 320, 180
F_PX = 0.8 * W  # the generic focal length (ss3d_eval.baselines.default_k)
K = np.array([[F_PX, 0.0, (W - 1) / 2], [0.0, F_PX, (H - 1) / 2], [0.0, 0.0, 1.0]])
NEAR_M, FAR_M = 2.0, 6.0  # depths of the two planes
STEP_M = 0.05  # sideways camera motion per frame: 6.4 px of flow on the near plane, 2.1 px on the far one
OBJECT_DROP_PX = 6  # the moving patch's own motion per frame, across the (horizontal) epipolar lines


@pytest.fixture(scope="module")
def texture(sample_frames) -> np.ndarray:
    return cv2.resize(sample_frames[0], (W + 100, H), interpolation=cv2.INTER_AREA)


def _view(texture: np.ndarray, k: int, moving_object: bool = False) -> np.ndarray:
    """Frame ``k`` (``k <= 11``) of the camera moving ``k · STEP_M`` along +x: the left half of the image a plane at
    ``NEAR_M``, the right half one at ``FAR_M``."""
    frame = np.empty((H, W, 3), np.uint8)
    for depth, columns in ((FAR_M, slice(W // 2, None)), (NEAR_M, slice(0, W // 2))):
        shift = int(round(F_PX * STEP_M * k / depth))
        frame[:, columns] = texture[:, 10 + shift:10 + shift + W][:, columns]
    if moving_object:  # a patch at a fixed place in the image whose content slides down
        drop = OBJECT_DROP_PX * k
        frame[70:160, 40:140] = texture[70 - drop:160 - drop, 80:180]
    return frame


def _T_b_a(k_a: int, k_b: int) -> np.ndarray:
    T = np.eye(4)
    T[0, 3] = -STEP_M * (k_b - k_a)  # points of camera a, seen from camera b further along +x
    return T


def _fraction(*args) -> float | None:
    counts = rigid_flow_counts(*args)
    return None if counts is None else counts[0] / counts[1]


def test_rigid_scene_is_explained_and_a_moving_object_or_a_wrong_motion_is_not(texture):
    rigid = _fraction([_view(texture, 0), _view(texture, 1)], _T_b_a(0, 1), K, (W, H))
    assert rigid > 0.97
    # A patch covering 16 % of the image moves 6 px down on top of the camera's motion: about that share is lost.
    moving = _fraction([_view(texture, 0, True), _view(texture, 1, True)], _T_b_a(0, 1), K, (W, H))
    assert 0.78 < moving < 0.92
    # The right frames under a wrong motion (vertical instead of horizontal translation): the flow leaves the lines.
    wrong = _T_b_a(0, 1)[:, [1, 0, 2, 3]][[1, 0, 2, 3]]
    assert _fraction([_view(texture, 0), _view(texture, 1)], wrong, K, (W, H)) < 0.1
    # K given at another size is scaled to the flow's: the same answer from the source size.
    big = np.diag([2.0, 2.0, 1.0]) @ K + np.array([[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]])
    assert _fraction([_view(texture, 0), _view(texture, 1)], _T_b_a(0, 1), big, (2 * W, 2 * H)) \
        == pytest.approx(rigid, abs=0.02)
    assert _fraction([_view(texture, 0), _view(texture, 1)], np.eye(4), K, (W, H)) is None
    # Chained over 4 frames (19 px on the near plane, 3 steps): still explained; the object's own motion adds up.
    chain_rigid = _fraction([_view(texture, k) for k in range(4)], _T_b_a(0, 3), K, (W, H))
    chain_moving = _fraction([_view(texture, k, True) for k in range(4)], _T_b_a(0, 3), K, (W, H))
    assert chain_rigid > 0.95 and chain_moving < chain_rigid - 0.08
    with pytest.raises(ValueError, match="of one size"):
        _fraction([_view(texture, 0), _view(texture, 1)[:-1]], _T_b_a(0, 1), K, (W, H))
    with pytest.raises(ValueError, match="two or more"):
        _fraction([_view(texture, 0)], _T_b_a(0, 1), K, (W, H))


def _store_entry(output, spec, n, registered):
    """A reconstruction of the two-plane clip with its true poses, as ``python -m training sfm`` stores it."""
    T_camera_world = np.stack([_T_b_a(0, k) for k in range(n)])
    T_camera_world[~registered] = np.nan
    offsets = np.concatenate([[0], np.cumsum(registered * 2)]).astype(np.int64)
    points = np.tile(np.array([[10.0, 20.0, NEAR_M]], np.float32), (int(offsets[-1]), 1))
    segment = {"start": 0, "end": n, "status": "ok", "K": K.tolist(), "registered": int(registered.sum()),
               "median_triangulation_angle_deg": 3.0, "points_per_image": 2.0}
    record = {"status": "ok", "reason": None, "key": entry_key(spec, 10.0), "frames": n,
              "registered": int(registered.sum()), "K": K.tolist(), "width": W, "height": H, "models": 1,
              "segments": [segment], "points_per_image": 2.0, "median_triangulation_angle_deg": 3.0}
    write_entry(output, spec.name, record, {"T_camera_world": T_camera_world, "registered": registered,
                                            "points_uvz": points, "points_offsets": offsets})


def test_mvs_command_with_the_sfm_store_weighs_pairs_by_their_rigid_share(tmp_path, texture):
    corpus, store, n = tmp_path / "corpus", tmp_path / "sfm", 12
    for name, moving in (("planes", False), ("planes_object", True), ("planes_half", False), ("planes_none", False)):
        folder = corpus / name / "frames"
        folder.mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(folder / f"{k:03d}.png"), cv2.cvtColor(_view(texture, k, moving), cv2.COLOR_RGB2BGR))
    (corpus / "clips.csv").write_text("name,kind,label,consecutive\nplanes,frames,translating,True\n"
                                      "planes_object,frames,dynamic,True\nplanes_half,frames,translating,True\n"
                                      "planes_none,frames,static,True\n")
    specs = {spec.name: spec for spec in read_clip_index(corpus)}
    registered = np.ones(n, bool)
    _store_entry(store, specs["planes"], n, registered)
    _store_entry(store, specs["planes_object"], n, registered)
    _store_entry(store, specs["planes_half"], n, np.arange(n) < n // 2)
    out = tmp_path / "mvs" / "scores.csv"
    assert mvs_main(["--clips", str(corpus), "--output", str(out), "--sfm-dir", str(store)]) == 0
    with out.open() as f:
        rows = {r["name"]: r for r in csv.DictReader(f) if r["segment"] == "all"}
    # Frame folders carry no rate: pairs are adjacent frames, all 11 of them.
    assert int(rows["planes"]["sfm_pairs"]) == int(rows["planes"]["n_pairs"]) == n - 1
    assert float(rows["planes"]["rigid_explained"]) > 0.9
    assert float(rows["planes_object"]["rigid_explained"]) < float(rows["planes"]["rigid_explained"]) - 0.08
    assert int(rows["planes_half"]["sfm_pairs"]) == n // 2 - 1  # only pairs with both frames registered
    assert float(rows["planes_half"]["registered_fraction"]) == 0.5
    assert rows["planes_none"]["sfm_pairs"] == "0" and rows["planes_none"]["rigid_explained"] == ""
    for row in rows.values():  # the SfM evidence only ever lowers the two-view score
        assert float(row["mvs_score"]) <= float(row["two_view_score"]) + 1e-9
    assert float(rows["planes_none"]["mvs_score"]) == float(rows["planes_none"]["two_view_score"])
    report = (tmp_path / "mvs" / "scores.md").read_text()
    assert "| rigid_explained alone |" in report and "--sfm-dir" in report
    assert "a current reconstruction for 3 of 4 clips" in report  # planes_none has no entry
    # Without the store the proxy is the two-view one.
    assert mvs_main(["--clips", str(corpus), "--output", str(out)]) == 0
    with out.open() as f:
        for row in csv.DictReader(f):
            assert row["mvs_score"] == row["two_view_score"] and row["rigid_explained"] == ""


def test_rigidity_check_has_no_opinion_on_unregistered_pairs_and_statistics_follow_segments(tmp_path, texture):
    frames = [_view(texture, k) for k in range(4)]
    spec_folder = tmp_path / "corpus" / "c" / "frames"
    spec_folder.mkdir(parents=True)
    for k, frame in enumerate(frames):
        cv2.imwrite(str(spec_folder / f"{k}.png"), frame)
    (spec,) = read_clip_index(tmp_path / "corpus")
    _store_entry(tmp_path / "sfm", spec, 4, np.array([True, True, False, True]))
    from training.sfm.store import load_reconstruction

    check = RigidityCheck(frames, load_reconstruction(tmp_path / "sfm", spec))
    assert check(0, 1) > 0.9 and check(1, 2) is None
    with pytest.raises(ValueError, match="frames"):
        RigidityCheck(frames[:3], load_reconstruction(tmp_path / "sfm", spec))
    record = {"status": "ok", "segments": [
        {"start": 0, "end": 10, "status": "ok", "registered": 10, "median_triangulation_angle_deg": 5.0,
         "points_per_image": 300.0},
        {"start": 10, "end": 30, "status": "failed", "registered": 0}]}
    assert segment_statistics(record, 0, 30) == {"registered_fraction": pytest.approx(1 / 3),
                                                 "triangulation_angle_deg": 5.0, "points_per_image": 300.0}
    failed = segment_statistics(record, 10, 30)
    assert failed["registered_fraction"] == 0 and np.isnan(failed["points_per_image"])
