"""``python -m training targets`` (training/pipeline/targets.py): each target against its baseline of the same
report."""

import json

import pytest

from training.pipeline.targets import evaluate_targets, main, targets_markdown


def _sequence(abs_rel=None, constant=None, n_images=1, rot=None, identity=None, n_pairs=0, moving=None,
              identity_moving=None, n_moving=0, tdir=None, n_tdir=0):
    depth = None if abs_rel is None else {"abs_rel": abs_rel, "n_images": n_images}
    pose = None if rot is None and moving is None else {
        "rot_err_deg": rot, "n_pairs": n_pairs, "rot_err_deg_moving": moving, "n_moving_pairs": n_moving,
        "tdir_err_deg": tdir, "n_tdir_pairs": n_tdir}
    return {"depth": depth, "pose": pose, "baselines": {
        "constant_depth": {"depth": None if constant is None else {"abs_rel": constant}},
        "identity_pose": {"pose": {"rot_err_deg": identity, "rot_err_deg_moving": identity_moving}}}}


def _report(fx=0.08, kitti_rot=0.05):
    return {"sequences": {
        "tum_a": _sequence(0.10, 0.20, moving=1.0, identity_moving=2.0, n_moving=1),
        "tum_b": _sequence(0.20, 0.20, n_images=3, moving=3.0, identity_moving=2.5, n_moving=3),
        "nyu_v2": _sequence(0.30, 0.30),
        "dgp_scene": _sequence(0.50, 0.70, n_images=3),
        "kitti_odom_gray_51": _sequence(rot=kitti_rot, identity=0.08, n_pairs=50, tdir=2.5, n_tdir=50),
        "kitti_raw_lidar": _sequence(0.20, 0.30, n_images=78),
    }, "aggregate": {"depth": {"abs_rel": 0.3}, "pose": {"rot_err_deg": 0.1, "tdir_err_deg": 2.5},
                     "intrinsics": {"fx_rel_err": fx}}}


def test_each_target_is_judged_against_its_own_pooled_baseline():
    targets = {t.name.split(" ")[0] + t.name.split(" ")[1]: t for t in evaluate_targets(_report())}
    tum = targets["tumdepth"]
    assert tum.value == pytest.approx((0.10 + 3 * 0.20) / 4) and tum.bound == pytest.approx(0.85 * 0.20)
    assert not tum.met  # 0.175 > 0.17
    assert not targets["nyudepth"].met and targets["dgpdepth"].met
    # The depth groups come from the data: the KITTI LiDAR sequence is its own group, no list names it.
    assert targets["kittidepth"].value == pytest.approx(0.20) and targets["kittidepth"].met
    assert targets["KITTIrotation"].met and targets["KITTItranslation"].met
    moving = targets["TUMmoving-pair"]
    assert moving.value == pytest.approx((1.0 + 3 * 3.0) / 4) and moving.bound == pytest.approx((2.0 + 3 * 2.5) / 4)
    assert not moving.met
    assert targets["fxrelative"].met and not evaluate_targets(_report(fx=0.11))[-2].met
    assert targets["worstsequence's"].value is None and not targets["worstsequence's"].met  # no per-sequence fx


def test_no_camera_may_be_far_off_even_when_the_aggregate_is_fine():
    report = _report()
    report["sequences"]["tum_a"]["intrinsics"] = {"fx_rel_err": 0.05}
    report["sequences"]["dgp_scene"]["intrinsics"] = {"fx_rel_err": 0.25}
    worst = evaluate_targets(report)[-1]
    assert worst.value == pytest.approx(0.25) and not worst.met
    report["sequences"]["dgp_scene"]["intrinsics"] = {"fx_rel_err": 0.15}
    assert evaluate_targets(report)[-1].met


def test_an_explicit_group_in_the_report_wins_over_the_name():
    report = _report()
    report["sequences"]["nyu_v2"]["group"] = "tum"  # e.g. calib.yaml group: tum
    names = [t.name for t in evaluate_targets(report)]
    assert not any(name.startswith("nyu") for name in names)


def test_a_missing_measurement_is_not_met():
    report = _report()
    del report["sequences"]["kitti_odom_gray_51"]
    kitti = [t for t in evaluate_targets(report) if t.name.startswith("KITTI")]
    assert all(t.value is None and not t.met for t in kitti)


def test_table_has_one_column_per_report_and_counts_met_targets(tmp_path, capsys):
    table = targets_markdown({"good": _report(), "worse": _report(kitti_rot=0.09)})
    assert table.splitlines()[0] == "| target | good | worse |"
    assert table.splitlines()[-1] == "| targets met | 5 / 9 | 4 / 9 |"
    smaller = _report()
    del smaller["sequences"]["kitti_raw_lidar"]  # a report of the old dev set: its missing group is said, not shifted
    rows = targets_markdown({"new": _report(), "old": smaller}).splitlines()
    assert any(row.startswith("| kitti depth") and row.endswith("| not measured |") for row in rows)
    with pytest.raises(ValueError):
        targets_markdown({})
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report()))
    assert main(["--report", f"run={path}", "--output", str(tmp_path / "t.md")]) == 0
    assert (tmp_path / "t.md").read_text() == capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--report", str(path)])
