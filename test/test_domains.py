"""The domain grouping of the filtered corpus (training/corpus/domains.py) and the MVS proxy's epipole component."""

import math

import numpy as np
import pytest
from conftest import NEEDS_SHARED, SHARED_DATA

from ss3d_core.geometry.pair_signal import EPIPOLE_FAR, epipole_offset
from training.corpus.domains import assign_domain, domain_clips, main, read_domains, relative_depth, write_domains

HEADER = "name,segment,start,end,mvs_score,epipole_offset,parallax_deg,displacement\n"


def test_the_rule_on_synthetic_components():
    assert assign_domain(0.03, 0.2, 0.02) == "forward"  # translation along the optical axis, whatever the depth
    assert assign_domain(5.0, 0.5, 0.05) == "near_field"  # parallax 0.5° over 3.6° of image motion: ΔZ/Z ~ 0.14
    assert assign_domain(5.0, 0.05, 0.1) == "far_field"  # 0.05° over 7.1°: a scene far relative to its relief
    assert assign_domain(math.nan, 0.05, 0.1) == "far_field" and assign_domain(math.nan, 0.3, 0.0) == "far_field"
    assert relative_depth(1.0, 0.0) != relative_depth(1.0, 0.0)  # NaN without motion
    assert assign_domain(0.2, 0.5, 0.05, forward_max=0.3) == "forward"


def test_domains_csv_keeps_only_filtered_clips(tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text(HEADER + "drive,all,0,90,0.2,0.02,0.2,0.02\ndrive,0,0,90,0.2,0.02,0.2,0.02\n"
                      "room,all,0,50,0.03,3.0,0.5,0.05\nroom,1,20,50,0.3,3.0,0.5,0.05\nhill,all,0,40,0.1,10,0.05,0.1\nstill,all,0,40,0.0,,0.01,0.0\n")
    groups = write_domains(scores, tmp_path / "out" / "domains.csv", min_score=0.05)
    assert groups == {"forward": ["drive"], "near_field": ["room"], "far_field": ["hill"]}
    assert read_domains(tmp_path / "out" / "domains.csv") == {"drive": "forward", "room": "near_field",
                                                               "hill": "far_field"}
    assert main(["--scores", str(scores), "--output", str(tmp_path / "d2.csv"), "--min-score", "0.25"]) == 0
    assert domain_clips(tmp_path / "d2.csv") == {"forward": [], "near_field": ["room"], "far_field": []}
    (tmp_path / "old.csv").write_text("name,segment,start,end,mvs_score\nx,all,0,9,0.5\n")
    with pytest.raises(ValueError, match="epipole_offset"):
        write_domains(tmp_path / "old.csv", tmp_path / "d3.csv", 0.05)


def test_epipole_offset_of_forward_and_sideways_motion():
    K = np.array([[400.0, 0, 319.5], [0, 400.0, 239.5], [0, 0, 1]])

    def fundamental(t):
        tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
        Ki = np.linalg.inv(K)
        return Ki.T @ tx @ Ki  # R = I

    assert epipole_offset(fundamental([0, 0, 1.0]), 640, 480) == pytest.approx(0.0, abs=1e-6)
    assert epipole_offset(fundamental([0.1, 0, 1.0]), 640, 480) == pytest.approx(40 / 640, rel=1e-6)
    assert epipole_offset(fundamental([1.0, 0, 0.0]), 640, 480) == EPIPOLE_FAR
    assert math.isnan(epipole_offset(None, 640, 480))


@pytest.mark.skipif(not (SHARED_DATA / "web_clips").is_dir(), reason=NEEDS_SHARED)
def test_real_clips_with_obvious_domains(tmp_path):
    """A dashcam drive is forward motion, a walk through a living room near field (MVS on 4 pairs per clip)."""
    from training.corpus.mvs_cli import main as mvs_main

    corpus = tmp_path / "clips"
    corpus.mkdir()
    names = ["udacity_highway_solidwhiteright", "cut3r_001_livingroom"]
    for name in names:
        (corpus / name).symlink_to(SHARED_DATA / "web_clips" / name)
    rows = [line for line in (SHARED_DATA / "web_clips" / "clips.csv").read_text().splitlines()
            if line.split(",")[0] in names]
    (corpus / "clips.csv").write_text("name,kind,label,consecutive,licence\n" + "\n".join(rows) + "\n")
    assert mvs_main(["--clips", str(corpus), "--output", str(tmp_path / "scores.csv"), "--pairs-per-segment", "4"]) == 0
    write_domains(tmp_path / "scores.csv", tmp_path / "domains.csv", 0.05)
    assert read_domains(tmp_path / "domains.csv") == {"udacity_highway_solidwhiteright": "forward",
                                                      "cut3r_001_livingroom": "near_field"}
