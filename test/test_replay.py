"""``ss3d_replay`` on a rosbag2 built from real TUM frames, and the scoring of recorded outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from std_msgs.msg import Header

from ss3d_core.estimator.odometry import T_ODOM_OPTICAL_START
from ss3d_core.io.ground_truth import GroundTruthTrajectory, trajectory_from_tum_file
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_eval.stream_scoring import score_depth, score_pose
from ss3d_ros.conversions import depth_to_image_msg, ns_to_stamp, odometry_msg, rgb8_to_image_msg
from ss3d_ros.tools.output_recorder import RecordedOutputs

REPO = Path(__file__).resolve().parent.parent
PAIR = REPO / "test" / "fixtures" / "tum_fr1_xyz_pair1"


def _header(stamp_ns: int, frame: str) -> Header:
    header = Header(frame_id=frame)
    header.stamp = ns_to_stamp(stamp_ns)
    return header


@pytest.fixture()
def tum_bag(tmp_path) -> Path:
    """A sqlite3 rosbag2 with the real TUM frames (rgb8), their GT depth (16UC1) and GT odometry."""
    seq = TumSequence.load(PAIR)
    path = tmp_path / "tum_bag"
    typestore = get_typestore(Stores.ROS2_KILTED)
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        image = writer.add_connection("/camera/rgb", "sensor_msgs/msg/Image", typestore=typestore)
        depth = writer.add_connection("/camera/depth_gt", "sensor_msgs/msg/Image", typestore=typestore)
        odom = writer.add_connection("/mocap/odom", "nav_msgs/msg/Odometry", typestore=typestore)
        for i, (t, _) in enumerate(seq.rgb):
            stamp = int(round(t * 1e9))
            header = _header(stamp, "camera_rgb_optical_frame")
            writer.write(image, stamp, serialize_message(rgb8_to_image_msg(seq.read_rgb(i), header)))
            gt = seq.gt_pose_for_frame(i)
            writer.write(odom, stamp, serialize_message(odometry_msg(gt, _header(stamp, "world"), "camera")))
            j = seq.depth_index_for_frame(i)
            if j is not None:
                writer.write(depth, stamp, serialize_message(depth_to_image_msg(seq.read_depth_m(j), header, "16UC1")))
    return path


def test_replay_scores_recorded_outputs_against_bag_ground_truth(tmp_path, tum_bag, tiny_checkpoint):
    out = tmp_path / "replay"
    result = subprocess.run(
        [sys.executable, "-m", "ss3d_ros.tools.replay", "--bag", str(tum_bag), "--out", str(out), "--lockstep",
         "--checkpoint", str(tiny_checkpoint), "--backend", "torch", "--gt-topic", "/mocap/odom",
         "--gt-depth-topic", "/camera/depth_gt", "-p", "gap_threshold_s:=1.0"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["topic"] == "/camera/rgb" and report["stream"]["frames_published"] == 2
    assert report["stream"]["messages_received"]["depth"] == 2  # lock-step: no drops
    assert report["pose"]["n_pairs"] == 1 and report["pose"]["rot_err_deg"] >= 0
    # Both pose sources, each its own node run, scored on the same pair; the main run is the node's default.
    sources = report["pose_sources"]
    assert list(sources) == ["geometric", "network"] and sources["geometric"] == report["pose"]
    assert sources["network"]["n_pairs"] == 1 and "## pose sources" in (out / "report.md").read_text()
    assert report["depth"]["n_images"] == 1 and 0 < report["depth"]["abs_rel"] < 1
    assert report["depth"]["cap_m"] == 10.0  # indoor GT
    assert (out / "report.md").read_text().startswith("# ss3d_replay")
    assert (out / "outputs_mcap").is_dir()


def test_replay_rejects_a_bag_without_images(tmp_path, tum_bag, caplog):
    """Exit status 2 and one line (the command's own process is tested above; this runs its ``main``)."""
    from ss3d_ros.tools.replay import main

    assert main(["--bag", str(tum_bag), "--topic", "/mocap/odom", "--out", str(tmp_path / "r")]) == 2
    assert "not a sensor_msgs/msg/Image topic" in caplog.text


def _outputs_from(poses: list[np.ndarray], stamps: list[int]) -> RecordedOutputs:
    out = RecordedOutputs()
    out.odometry = list(zip(stamps, poses))
    return out


def test_score_pose_is_zero_for_ground_truth_and_skips_segment_restarts():
    seq = TumSequence.load(PAIR)
    gt = GroundTruthTrajectory(np.array([int(t * 1e9) for t in seq.gt_stamps]), seq.gt_poses, "test")
    stamps = [int(round(seq.rgb[i][0] * 1e9)) for i in range(2)]
    poses = [seq.gt_pose_for_frame(i) for i in range(2)]
    # The estimate expressed in another frame and unit: errors are frame- and scale-invariant.
    offset = np.eye(4)
    offset[:3, 3] = [1.0, 2.0, 3.0]
    scaled = [offset @ np.diag([1, 1, 1, 1.0]) @ T for T in poses]
    for T in scaled:
        T[:3, 3] *= 3.0
    result = score_pose(_outputs_from(scaled, stamps), gt)
    assert result["n_pairs"] == 1 and result["rot_err_deg"] == pytest.approx(0.0, abs=1e-6)
    # A restart in between: the pair is not scored.
    restarted = score_pose(_outputs_from([poses[0], T_ODOM_OPTICAL_START.copy()], stamps), gt)
    assert restarted["n_pairs"] == 0 and restarted["n_skipped_pairs"] == 1


def test_score_depth_and_tum_trajectory_reader(tmp_path):
    seq = TumSequence.load(PAIR)
    gt_depth = seq.read_depth_m(0)
    stamp = int(round(seq.rgb[0][0] * 1e9))
    out = RecordedOutputs()
    out.depth = {stamp + 5_000_000: np.nan_to_num(gt_depth, nan=1.0) * 0.25}  # 5 ms off, another scale
    result = score_depth(out, {stamp: gt_depth}, cap_m=None)
    assert result["n_images"] == 1 and result["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert result["delta1"] == pytest.approx(1.0)
    traj = trajectory_from_tum_file(PAIR / "groundtruth.txt")
    assert traj.poses.shape[1:] == (4, 4) and traj.pose_at(int(seq.gt_stamps[0] * 1e9)) is not None
    (tmp_path / "bad.txt").write_text("1.0 2.0 3.0\n")
    with pytest.raises(ValueError):
        trajectory_from_tum_file(tmp_path / "bad.txt")


def test_ground_truth_that_matches_no_output_is_counted_and_warned():
    seq = TumSequence.load(PAIR)
    stamps = [int(round(seq.rgb[i][0] * 1e9)) for i in range(2)]
    poses = [seq.gt_pose_for_frame(i) for i in range(2)]
    offset_ns = 1_700_000_000 * 10**9  # ground truth on another clock (a 1.7e9 s offset)
    gt = GroundTruthTrajectory(np.array([int(t * 1e9) + offset_ns for t in seq.gt_stamps]), seq.gt_poses, "gt.txt")
    result = score_pose(_outputs_from(poses, stamps), gt)
    assert result["n_frames"] == 2 and result["n_frames_with_gt"] == 0 and result["rot_err_deg"] is None
    warning = result["warning"]
    assert "only 0 of 2 output frames found a ground-truth pose" in warning and "gt.txt" in warning
    assert f"[{stamps[0] / 1e9:.3f}, {stamps[1] / 1e9:.3f}] s" in warning  # both time ranges
    assert f"{(stamps[0] + offset_ns) / 1e9:.3f}" in warning
    # Matching ground truth: counted, no warning.
    matched = score_pose(_outputs_from(poses, stamps), GroundTruthTrajectory(
        np.array([int(t * 1e9) for t in seq.gt_stamps]), seq.gt_poses, "gt.txt"))
    assert matched["n_frames_with_gt"] == 2 and "warning" not in matched
    # Depth ground truth on another clock likewise.
    out = RecordedOutputs()
    out.depth = {stamps[0]: np.ones((4, 4), np.float32)}
    depth = score_depth(out, {stamps[0] + offset_ns: np.ones((4, 4), np.float32)}, cap_m=None)
    assert depth["n_images"] == 0 and "only 0 of 1 output frames found a ground-truth depth image" in depth["warning"]
