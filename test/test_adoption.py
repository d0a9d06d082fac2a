"""The adoption rule of ``make train`` (training/pipeline/adoption.py): resolved improvements, no depth group resolved
worse."""

import json

from synthetic_reports import dev_report

from training.pipeline.adoption import adoption_verdict, write_verdict


def _shipped():
    return dev_report(seed=1, noise=0.01, checkpoint="shipped")


def test_adopts_only_when_depth_rotation_and_fx_are_resolved_better():
    better = dev_report(seed=2, noise=0.01, depth_shift=-0.03, rotation_shift=-0.02, fx_shift=-0.03)
    verdict = adoption_verdict(better, _shipped())
    assert verdict.adopt, verdict.lines
    assert all(line.endswith(": ok") for line in verdict.lines)
    for missing in ({"fx_shift": 0.0}, {"rotation_shift": 0.0}, {"depth_shift": 0.0}):
        shifts = {"depth_shift": -0.03, "rotation_shift": -0.02, "fx_shift": -0.03, **missing}
        verdict = adoption_verdict(dev_report(seed=2, noise=0.01, **shifts), _shipped())
        assert not verdict.adopt, missing  # an unresolved (noise-sized) difference is not an improvement


def test_a_depth_group_resolved_more_than_5_percent_worse_blocks_adoption():
    candidate = dev_report(seed=2, noise=0.01, depth_shift=-0.03, rotation_shift=-0.02, fx_shift=-0.03)
    for image in candidate["sequences"]["kitti_raw"]["depth"]["per_image"]:
        image["abs_rel"] += 0.05  # the KITTI LiDAR group, about 35 % worse, while the aggregate still improves
    verdict = adoption_verdict(candidate, _shipped())
    assert not verdict.adopt
    assert any(line.startswith("kitti depth") and line.endswith("fails") for line in verdict.lines)
    assert any(line.startswith("aggregate depth.abs_rel") and line.endswith("ok") for line in verdict.lines)


def test_a_group_worse_within_its_noise_does_not_block_adoption():
    candidate = dev_report(seed=2, noise=0.01, depth_shift=-0.03, rotation_shift=-0.02, fx_shift=-0.03)
    for image in candidate["sequences"]["nyu_v2"]["depth"]["per_image"]:
        image["abs_rel"] += 0.045  # 3 NYU images about 7 % worse: the interval of so few items reaches below +5 %
    verdict = adoption_verdict(candidate, _shipped())
    nyu = next(line for line in verdict.lines if line.startswith("nyu depth"))
    assert nyu.endswith("ok") and "relative +0.0" in nyu, nyu
    assert float(nyu.split("relative ")[1].split(" ")[0]) > 0.05  # the point value alone would have failed it


def test_no_evidence_no_adoption(tmp_path):
    empty = {"checkpoint": "x", "sequences": {}}
    verdict = adoption_verdict(empty, _shipped())
    assert not verdict.adopt and "no paired items" in verdict.lines[0]
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    new.write_text(json.dumps(dev_report(seed=2, noise=0.01, depth_shift=-0.03, rotation_shift=-0.02,
                                         fx_shift=-0.03)))
    old.write_text(json.dumps(_shipped()))
    assert write_verdict(new, old, tmp_path / "adoption.md").adopt
    assert (tmp_path / "adoption.md").read_text().startswith("**Adopt** (rule: training/pipeline/adoption.py, paired")
