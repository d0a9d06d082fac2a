"""Pose self-check against the five-point solver on a clip corpus (training.selfcheck.pose_agreement)."""

import json
import shutil

import pytest

from training.data.clips import evenly_spaced_pairs
from training.selfcheck.pose_agreement import _main


def test_pairs_are_evenly_spaced_consecutive_and_bounded():
    assert evenly_spaced_pairs(1, 8) == []
    assert evenly_spaced_pairs(3, 8) == [0, 1]
    assert evenly_spaced_pairs(101, 5) == [0, 25, 50, 74, 99]


def test_untrained_network_disagrees_by_exactly_the_five_point_motion(tmp_path, tiny_checkpoint):
    """An untrained head predicts the identity: the rotation disagreement is the five-point rotation itself (a
    dashcam on a straight road: small) and the translation direction is undefined (no estimate)."""
    from conftest import SAMPLE_VIDEO

    corpus = tmp_path / "clips"
    (corpus / "sample").mkdir(parents=True)
    shutil.copy(SAMPLE_VIDEO, corpus / "sample" / "clip.mp4")
    (corpus / "clips.csv").write_text("name,kind,label,consecutive,licence\nsample,video,translating,True,MIT\n")
    out = tmp_path / "agreement.json"
    assert _main(["--checkpoint", str(tiny_checkpoint), "--root", str(corpus), "--pairs-per-clip", "3",
                  "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    (clip,) = report["clips"]
    assert clip["clip"] == "sample" and clip["n_pairs"] + clip["n_failed"] == 3 and clip["n_pairs"] >= 2
    assert 0.0 < clip["rot_deg"] < 2.0 and clip["tdir_deg"] is None
    assert clip["fx_norm"] > 0 and report["summary"]["n_pairs"] == clip["n_pairs"]


def test_empty_selection_is_a_usage_error(tmp_path, tiny_checkpoint):
    (tmp_path / "clips.csv").write_text("name,kind,label,consecutive,licence\nphotos,frames,translating,False,MIT\n")
    with pytest.raises(SystemExit):
        _main(["--checkpoint", str(tiny_checkpoint), "--root", str(tmp_path), "--labels", "static"])
    with pytest.raises(SystemExit):
        _main(["--checkpoint", str(tiny_checkpoint), "--root", str(tmp_path), "--consecutive-only"])
