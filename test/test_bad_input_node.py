"""Bad-input matrix, node side, in process: start-up and run-time parameters, tiny images, frame ids, stamps.

These behaviours do not depend on DDS (the node decides them once a message is in hand), so the node runs in this
process and frames are handed to its processing step directly; the DDS cases (drops of malformed images, shutdown
while frames stream) are in ``test_node_integration.py``.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from ss3d_core.preprocess import MAX_ASPECT_DISTORTION, MIN_IMAGE_SIDE_PX, image_size_problem
from ss3d_ros.conversions import ns_to_stamp, rgb8_to_image_msg
from ss3d_ros.node import SS3DNode
from ss3d_ros.parameters import ParameterError

BASE_NS = 1_700_000_000_000_000_000
FRAME_ID = "test_camera_optical_frame"


class RecordingLogger:
    """Stands in for the node's rclpy logger: keeps ``(level, message)``."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level: str):
        return lambda message, **_: self.lines.append((level, str(message)))

    def count(self, text: str) -> int:
        return sum(text in message for _, message in self.lines)


@pytest.fixture()
def ros_context():
    rclpy.init()
    yield
    rclpy.try_shutdown()


def _node(overrides: dict[str, object]) -> SS3DNode:
    return SS3DNode(namespace="/bad_input_node", parameter_overrides=[
        Parameter(name, value=value) for name, value in {"autostart": False, **overrides}.items()])


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"intrinsics_window": 0}, "intrinsics_window must be an integer in [1, 10000]"),
    ({"metric_scale": 1}, "metric_scale must be a double in [0.0, 1000000.0], got integer 1 (write 1.0)"),
    ({"depth_encoding": "bogus"}, "depth_encoding must be one of 32FC1, 16UC1, got 'bogus'"),
    ({"backend": "bogus"}, "backend must be one of auto, tensorrt, torch-cuda, onnxruntime, torch, got 'bogus'"),
    ({"warn_throttle_s": "5"}, "warn_throttle_s must be a double in [0.0, 3600.0], got string '5'"),
    ({"depth_encoding": "16UC1"}, "depth_encoding 16UC1 (millimetres) needs metric_scale > 0"),
    ({"odom_frame_id": ""}, "odom_frame_id must not be empty"),
    ({"camera_frame_id": "odom"}, "camera_frame_id and odom_frame_id must differ"),
])
def test_start_up_values_are_validated_like_run_time_sets(ros_context, overrides, expected):
    with pytest.raises(ParameterError) as err:
        _node(overrides)
    assert expected in str(err.value) and "\n" not in str(err.value)
    # Consistent values pass: 16UC1 with a metric scale, a camera frame of its own.
    _node({"depth_encoding": "16UC1", "metric_scale": 0.5, "camera_frame_id": "cam"}).destroy_node()


def test_run_time_sets_answer_with_the_parameter_value_and_rule(ros_context):
    node = _node({})
    try:
        reasons = {}
        for name, value in (("metric_scale", 1), ("depth_encoding", "16UC1"), ("odom_frame_id", ""),
                            ("gap_threshold_s", 0.0)):
            [result] = node.set_parameters([Parameter(name, value=value)])
            assert not result.successful
            reasons[name] = result.reason
        assert reasons["metric_scale"] == "metric_scale must be a double in [0.0, 1000000.0], got integer 1 (write 1.0)"
        assert "needs metric_scale > 0" in reasons["depth_encoding"]
        assert "must not be empty" in reasons["odom_frame_id"]
        assert "out of range" in reasons["gap_threshold_s"]
        # Set together (atomically), a metric scale makes 16UC1 valid.
        result = node.set_parameters_atomically([Parameter("metric_scale", value=0.01),
                                                 Parameter("depth_encoding", value="16UC1")])
        assert result.successful, result.reason
        assert node.get_parameter("depth_encoding").value == "16UC1"
    finally:
        node.destroy_node()


def test_bad_start_up_value_is_one_fatal_line_and_exit_1():
    result = subprocess.run([sys.executable, "-m", "ss3d_ros.node_main", "--ros-args", "-p", "intrinsics_window:=0"],
                            capture_output=True, text=True, timeout=120)
    output = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1, output
    assert len(output) == 1 and "[FATAL]" in output[0], output
    assert "intrinsics_window" in output[0] and "[1, 10000]" in output[0] and "value: 0" in output[0]


@pytest.fixture()
def active_node(ros_context, tiny_checkpoint, monkeypatch):
    node = _node({"checkpoint": str(tiny_checkpoint), "backend": "torch", "warn_throttle_s": 5.0,
                  "publish_tf": False})
    log = RecordingLogger()
    monkeypatch.setattr(node, "get_logger", lambda: log)
    assert node.trigger_configure() == rclpy.lifecycle.TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == rclpy.lifecycle.TransitionCallbackReturn.SUCCESS
    yield node, log
    node.trigger_shutdown()
    node.destroy_node()


def _frame(rgb: np.ndarray, stamp_ns: int, frame_id: str = FRAME_ID):
    header = Header(frame_id=frame_id)
    header.stamp = ns_to_stamp(stamp_ns)
    return rgb8_to_image_msg(rgb, header), 0.0


def test_tiny_strip_and_conflicting_images_are_counted_drops(active_node, sample_frames):
    node, log = active_node
    for width, height in ((1, 1), (1, 640), (3000, 2), (MIN_IMAGE_SIDE_PX - 1, 480)):
        node._process(_frame(np.zeros((height, width, 3), np.uint8), BASE_NS))
    for width, height in ((3000, 40), (40, 3000)):  # both sides above the minimum, the aspect ratio far off
        node._process(_frame(np.zeros((height, width, 3), np.uint8), BASE_NS))
    node._process(_frame(sample_frames[0][:200, :300], BASE_NS, frame_id="odom"))
    snapshot = node.stats.snapshot()
    assert snapshot["drops"] == {"too_small": 4, "aspect_ratio": 2, "frame_id_conflict": 1}
    assert snapshot["frames_out"] == 0
    assert log.count(f"below {MIN_IMAGE_SIDE_PX} pixels a side") == 1  # throttled
    assert log.count(f"(at most {MAX_ASPECT_DISTORTION:g}×)") == 1 and log.count("equals odom_frame_id") == 1
    node._process(_frame(sample_frames[0][:MIN_IMAGE_SIDE_PX, :MIN_IMAGE_SIDE_PX], BASE_NS))
    assert node.stats.snapshot()["frames_out"] == 1  # the smallest accepted size


@pytest.mark.parametrize(("width", "height", "reason"), [
    (1242, 375, None),  # KITTI
    (720, 1280, None),  # portrait phone video
    (32, 32, None),
    (31, 480, "too_small"),
    (3000, 40, "aspect_ratio"),
    (40, 3000, "aspect_ratio"),
])
def test_image_size_rule(width, height, reason):
    problem = image_size_problem(width, height, (224, 128))
    assert (problem and problem[0]) == reason


def test_twist_needs_a_minimum_time_step(active_node, sample_frames):
    node, log = active_node
    for i, stamp in enumerate((BASE_NS, BASE_NS + 1_000, BASE_NS + 50_000_000)):  # 1 µs, then 50 ms
        node._process(_frame(sample_frames[i], stamp))
    assert node.estimator.counters["twist_omitted_short_dt"] == 1
    assert log.count("twist omitted") == 1 and node.stats.snapshot()["frames_out"] == 3


def test_zero_stamps_get_their_own_throttled_message(active_node, sample_frames):
    node, log = active_node
    for i in range(30):  # one second of a 30 Hz camera whose driver leaves stamps unset
        node._process(_frame(sample_frames[i % 3], 0))
    events = node.stats.snapshot()["events"]
    assert events["stamp_zero"] == 30 and events["odometry_reset_stamp_backwards"] == 29
    warnings = [message for level, message in log.lines if level == "warning"]
    assert len(warnings) == 1 and "stamp is zero" in warnings[0], warnings


def test_configure_names_an_unavailable_backend(ros_context, tiny_checkpoint, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch-cuda is available here: nothing to refuse")
    node = _node({"checkpoint": str(tiny_checkpoint), "backend": "torch-cuda"})
    log = RecordingLogger()
    monkeypatch.setattr(node, "get_logger", lambda: log)
    try:
        assert node.trigger_configure() == rclpy.lifecycle.TransitionCallbackReturn.FAILURE
        assert log.count("backend 'torch-cuda' cannot run here") == 1 and log.count("cannot load checkpoint") == 0
    finally:
        node.destroy_node()


def test_run_time_sets_reach_the_estimator_config_once_per_set(active_node, sample_frames):
    """The estimator's config is rebuilt when a set is accepted (at the next frame), not on every frame."""
    node, _ = active_node
    node._process(_frame(sample_frames[0], BASE_NS))
    config = node.estimator.config
    node._process(_frame(sample_frames[1], BASE_NS + 50_000_000))
    assert node.estimator.config is config and config.metric_scale is None  # no set: the same object
    assert node.set_parameters([Parameter("metric_scale", value=2.5)])[0].successful
    node._process(_frame(sample_frames[2], BASE_NS + 100_000_000))
    assert node.estimator.config.metric_scale == 2.5 and node.estimator.config.gap_threshold_s == config.gap_threshold_s


def test_square_pixels_set_at_run_time_changes_the_next_published_K(active_node, sample_frames):
    """The tiny network's learned fx/W and fy/H differ, so only square_pixels makes fx = fy in input pixels."""
    node, _ = active_node
    published = []
    node._pubs["camera_info"].publish = published.append
    node._process(_frame(sample_frames[0], BASE_NS))
    assert node.set_parameters([Parameter("square_pixels", value=False)])[0].successful
    node._process(_frame(sample_frames[1], BASE_NS + 50_000_000))
    input_height, input_width = sample_frames[0].shape[:2]

    def focal_lengths_in_input_pixels(info) -> tuple[float, float]:
        K = np.array(info.k).reshape(3, 3)  # in pixels of the published depth image (info.width × info.height)
        return K[0, 0] * input_width / info.width, K[1, 1] * input_height / info.height

    square, learned = (focal_lengths_in_input_pixels(info) for info in published)
    assert square[0] == pytest.approx(square[1])
    assert learned[0] != pytest.approx(learned[1]) and node.estimator.config.square_pixels is False
