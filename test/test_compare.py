"""``ss3d_eval --compare`` (ss3d_eval/compare.py): paired differences with stratified bootstrap intervals."""

import json

import numpy as np
import pytest
from synthetic_reports import dev_report, sequence

from ss3d_eval.cli import main
from ss3d_eval.compare import (
    METRICS,
    MIN_ITEMS_FOR_INTERVAL,
    SINGLES_STRATUM,
    _resample_indices,
    block_length,
    compare_metric,
    compare_reports,
    comparison_markdown,
    paired_items,
)

ABS_REL, DELTA1, ROTATION, TDIR, NETWORK_ROTATION, NETWORK_TDIR, FX = METRICS


def test_a_checkpoint_against_itself_resolves_nothing():
    report = dev_report(noise=0.02)
    comparison = compare_reports(report, report)
    for data in comparison["metrics"].values():
        for d in [*data["groups"].values(), data["aggregate"]]:
            assert d["diff"] == 0.0
            assert d["ci"] is None or d["ci"][0] <= 0.0 <= d["ci"][1]
            assert not d["resolved"] and d["verdict"] in {"unresolved", "no interval"}


def test_two_noisy_runs_of_the_same_checkpoint_are_not_told_apart():
    """Independent per-item noise with no shift: the aggregate intervals contain 0 (fixed seeds: deterministic)."""
    comparison = compare_reports(dev_report(seed=1, noise=0.01), dev_report(seed=2, noise=0.01))
    for name in ("depth.abs_rel", "pose.rot_err_deg"):
        low, high = comparison["metrics"][name]["aggregate"]["ci"]
        assert low < 0.0 < high, name


def test_a_known_shift_is_detected_with_its_size_and_sign():
    old = dev_report(seed=1, noise=0.01)
    new = dev_report(seed=2, noise=0.01, depth_shift=-0.03, rotation_shift=+0.02)
    depth = compare_metric(new, old, ABS_REL)
    assert depth.aggregate.diff == pytest.approx(-0.03, abs=0.01)
    assert depth.aggregate.ci[1] < 0.0 and depth.aggregate.verdict == "better"
    assert depth.groups["kitti"].resolved and depth.groups["kitti"].ci[0] < -0.03 < depth.groups["kitti"].ci[1]
    delta1 = compare_metric(new, old, DELTA1)  # δ1 = 1 - AbsRel went up: better in its own sense
    assert delta1.aggregate.verdict == "better"
    rotation = compare_metric(new, old, ROTATION)
    assert rotation.aggregate.verdict == "worse" and rotation.aggregate.ci[0] > 0.0


def test_items_are_grouped_from_the_data_and_static_pairs_form_their_own_group():
    groups = paired_items(dev_report(), dev_report(), ROTATION)
    assert set(groups) == {"tum", "kitti", "dgp", "static"}
    assert set(groups["static"]) == {"euroc_static"} and len(groups["static"]["euroc_static"]) == 40
    depth = paired_items(dev_report(), dev_report(), ABS_REL)
    assert set(depth) == {"tum", "nyu", "kitti", "dgp"}
    # Three one-image TUM sequences are pooled into one stratum: resampling a one-item stratum gives no spread.
    assert set(depth["tum"]) == {SINGLES_STRATUM} and len(depth["tum"][SINGLES_STRATUM]) == 3
    assert set(paired_items(dev_report(), dev_report(), FX)["dgp"]) == {"dgp"}  # fx: sequences are the items


def test_a_group_with_one_image_says_it_has_no_interval():
    old = {"sequences": {"nyu_one": sequence([0.30]), "kitti_x": sequence(np.linspace(0.1, 0.2, 20))}}
    new = {"sequences": {"nyu_one": sequence([0.10]), "kitti_x": sequence(np.linspace(0.1, 0.2, 20) - 0.01)}}
    result = compare_metric(new, old, ABS_REL)
    one = result.groups["nyu"]
    assert one.n_items == 1 < MIN_ITEMS_FOR_INTERVAL
    assert one.ci is None and one.rel_ci is None and not one.resolved and one.verdict == "no interval"
    assert "too few" in one.note and one.diff == pytest.approx(-0.2)
    # The aggregate is judged on the groups with an interval and says which group it left out.
    assert "left out" in result.aggregate.note and "nyu" in result.aggregate.note
    assert result.aggregate.diff == pytest.approx(-0.01) and result.aggregate.n_items == 20
    markdown = comparison_markdown(compare_reports(new, old))
    assert "| nyu | 1* |" in markdown and "no interval" in markdown


def test_only_items_both_reports_scored_are_paired():
    old = {"sequences": {"kitti_a": sequence([0.1, 0.2, 0.3, 0.4]), "tum_gone": sequence([0.2])}}
    new = {"sequences": {"kitti_a": sequence([0.1, 0.2, 0.3])}}
    new["sequences"]["kitti_a"]["depth"]["per_image"][1]["abs_rel"] = None  # not scored in the new report
    groups = paired_items(new, old, ABS_REL)
    assert list(groups) == ["kitti"] and [item[0] for item in groups["kitti"]["kitti_a"]] == [("kitti_a", 0),
                                                                                              ("kitti_a", 2)]
    with pytest.raises(ValueError, match="sequences"):
        paired_items({}, old, ABS_REL)


def test_consecutive_frames_are_resampled_in_circular_blocks():
    assert [block_length(n) for n in (1, 3, 4, 50, 78)] == [1, 1, 2, 4, 4]
    idx = _resample_indices(np.random.default_rng(0), 10, 3, 5)
    assert idx.shape == (5, 10) and idx.min() >= 0 and idx.max() < 10
    assert np.all((idx[:, 1:3] - idx[:, 0:2]) % 10 == 1)  # within a block, consecutive (wrapping)


def test_cli_prints_and_writes_the_comparison(tmp_path, capsys):
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    new.write_text(json.dumps(dev_report(seed=2, noise=0.01, depth_shift=-0.03, checkpoint="new")))
    old.write_text(json.dumps(dev_report(seed=1, noise=0.01, checkpoint="old")))
    assert main(["--compare", str(new), str(old), "--output", str(tmp_path / "cmp" / "compare.json")]) == 0
    printed = capsys.readouterr().out
    assert "## depth AbsRel (lower is better)" in printed and "| **aggregate** |" in printed
    written = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert written["n_resamples"] == 2000 and written["metrics"]["depth.abs_rel"]["aggregate"]["verdict"] == "better"
    assert (tmp_path / "cmp" / "compare.md").read_text().startswith("# Paired comparison")
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["--compare", str(tmp_path / "bad.json"), str(old)]) == 2
    assert main(["--compare", str(new), str(tmp_path / "missing.json")]) == 2
    assert main(["--sequences", str(tmp_path)]) == 2  # --output is required to evaluate


def test_groups_come_from_the_sequence_names_or_calib():
    from ss3d_eval.groups import sequence_group

    names = ("tum_fr1_xyz_pair1", "kitti06_pair_0012", "kitti_raw_sfnd_78", "dgp_scene02_cam05", "nyu_v2", "2024_run")
    assert [sequence_group(n) for n in names] == ["tum", "kitti", "kitti", "dgp", "nyu", "2024_run"]
    assert sequence_group("lab_run", {"group": "Indoor "}) == "indoor"
    with pytest.raises(ValueError, match="group"):
        sequence_group("lab_run", {"group": ""})


def test_a_tiny_group_cannot_decide_the_aggregate():
    """Two TUM pairs much worse and KITTI unchanged within noise: no resolved verdict on the aggregate."""
    old, new = dev_report(seed=1, noise=0.01), dev_report(seed=2, noise=0.01)
    for name in ("tum_a", "tum_b"):
        new["sequences"][name]["pose"]["per_pair"][0]["rot_err_deg"] += 1.0
    del new["sequences"]["tum_c"]
    rotation = compare_metric(new, old, ROTATION)
    assert rotation.groups["tum"].n_items == 2 and rotation.groups["tum"].ci is None
    assert rotation.aggregate.verdict == "unresolved" and "tum" in rotation.aggregate.note


def test_the_network_row_is_read_where_the_report_has_one():
    """Reports since the geometric pose source hold the network's own pose under baselines.network; older reports
    only the model's row, which was the network's."""
    old, new = dev_report(seed=1, noise=0.01), dev_report(seed=2, noise=0.01)
    for block in new["sequences"].values():
        if block["pose"]:
            network = [{**pair, "rot_err_deg": pair["rot_err_deg"] + 0.5} for pair in block["pose"]["per_pair"]]
            block["baselines"] = {"network": {"pose": {"per_pair": network}}}
    configured = compare_metric(new, old, ROTATION)
    network = compare_metric(new, old, NETWORK_ROTATION)
    assert configured.aggregate.verdict == "unresolved"
    assert network.aggregate.verdict == "worse" and network.aggregate.diff == pytest.approx(0.5, abs=0.01)
    assert NETWORK_ROTATION.name == "network.pose.rot_err_deg" and ROTATION.name == "pose.rot_err_deg"
