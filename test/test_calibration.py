"""Calibration from the camera's own motion: ``ss3d_calibrate``, camera_info files, and the node's camera_info_url
and self_calibrate (in process; the calibration child is ``ss3d_calibrate`` itself, replaced here by a child that
writes a result in the real format, so no COLMAP runs inside the node tests)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
import yaml
from conftest import NEEDS_SHARED, SHARED_DATA
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from ss3d_core.calibration import cli, online
from ss3d_core.calibration.camera_info_file import (
    CameraInfoFile,
    CameraInfoFileError,
    read_camera_info,
    resolve_camera_info_url,
    write_camera_info,
)
from ss3d_core.camera import scale_K
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_ros.conversions import ns_to_stamp, rgb8_to_image_msg
from ss3d_ros.node import SS3DNode

BASE_NS = 1_700_000_000_000_000_000
KEYFRAME_PERIOD_NS = 100_000_000
# Key frames per attempt in the node tests (the node's default is 100; fewer keep the test short).
TEST_KEYFRAMES = 16
FRAME_ID = "calib_test_optical_frame"
# A checkerboard calibration as the ROS camera_calibration tool writes it (its tutorial's ost.yaml layout).
ROS_FILE = """\
image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [517.3, 0, 318.6, 0, 516.5, 255.3, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.2624, -0.9531, -0.0054, 0.0026, 1.1633]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [517.3, 0, 318.6, 0, 0, 516.5, 255.3, 0, 0, 0, 1, 0]
"""


def test_camera_info_yaml_round_trip_in_the_ros_format(tmp_path):
    ros = tmp_path / "ost.yaml"
    ros.write_text(ROS_FILE)
    calibration = read_camera_info(ros)
    assert (calibration.width, calibration.height, calibration.camera_name) == (640, 480, "narrow_stereo")
    assert calibration.K[0, 0] == 517.3 and calibration.K[1, 2] == 255.3 and calibration.D[4] == 1.1633
    written = write_camera_info(tmp_path / "out" / "camera.yaml", calibration)
    assert yaml.safe_load(written.read_text()) == yaml.safe_load(ROS_FILE)  # same keys, shapes and numbers
    again = read_camera_info(written)
    for name in ("K", "D", "R", "P"):
        np.testing.assert_array_equal(getattr(again, name), getattr(calibration, name))
    assert list(yaml.safe_load(written.read_text())) == [
        "image_width", "image_height", "camera_name", "camera_matrix", "distortion_model", "distortion_coefficients",
        "rectification_matrix", "projection_matrix"]


@pytest.mark.parametrize(("text", "expected"), [
    ("image_width: 640\n", "missing field image_height"),
    (ROS_FILE.replace("rows: 3\n  cols: 3\n  data: [517.3", "rows: 2\n  cols: 3\n  data: [517.3"),
     "camera_matrix must be 3x3"),
    (ROS_FILE.replace("[517.3, 0, 318.6, 0, 516.5", "[-517.3, 0, 318.6, 0, 516.5"), "fx and fy > 0"),
    ("{{ not yaml", "is not YAML"),
])
def test_a_bad_calibration_file_is_one_clear_line(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CameraInfoFileError) as err:
        read_camera_info(path)
    assert expected in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_camera_info_urls_follow_camera_info_manager(tmp_path):
    assert resolve_camera_info_url(f"file://{tmp_path}/${{NAME}}.yaml", "front") == tmp_path / "front.yaml"
    for url, expected in ((str(tmp_path / "c.yaml"), "not a file:// or package://"),
                          ("file://relative/c.yaml", "absolute path"),
                          ("package://no_such_package_here/c.yaml", "not installed")):
        with pytest.raises(CameraInfoFileError, match=expected):
            resolve_camera_info_url(url)
    with pytest.raises(CameraInfoFileError, match="cannot read camera calibration"):
        read_camera_info(tmp_path / "missing.yaml")


def test_a_static_clip_is_refused_with_exit_3_and_nothing_written(tmp_path, sample_frames, capsys):
    """A still camera (one real frame, repeated with sensor-like noise): every pair is static."""
    rng = np.random.default_rng(0)
    frames = tmp_path / "frames"
    frames.mkdir()
    still = cv2.resize(sample_frames[0], (320, 180), interpolation=cv2.INTER_AREA)
    for i in range(30):
        noisy = np.clip(still.astype(np.int16) + rng.integers(-2, 3, still.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(frames / f"{i:04d}.png"), cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR))
    output = tmp_path / "camera.yaml"
    summary = tmp_path / "summary.json"
    assert cli.main(["--frames", str(frames), "--rate-hz", "10", "--output", str(output),
                     "--summary-json", str(summary)]) == cli.EXIT_REFUSED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused: too little motion" in err[0] and "static" in err[0], err
    assert not output.exists()
    assert json.loads(summary.read_text())["kind"] == "motion"


def test_an_unreadable_recording_is_exit_2_and_one_line(tmp_path, capsys):
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00not a video" * 100)
    for args in (["--video", str(video)], ["--frames", str(tmp_path / "no_such_folder")]):
        assert cli.main([*args, "--output", str(tmp_path / "c.yaml")]) == cli.EXIT_BAD_INPUT
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("ss3d_calibrate: "), err
    assert not (tmp_path / "c.yaml").exists()


def test_the_online_calibration_child_runs_at_niceness_19_with_one_thread(tmp_path):
    """The node's own child (its command line, started as the node starts it), on a folder without images: it
    refuses the input at once, and its summary says how it ran."""
    frames = tmp_path / "frames"
    frames.mkdir()
    summary = tmp_path / "summary.json"
    command = online.child_command(frames, tmp_path / "camera.yaml", FRAME_ID, summary, 5.0)
    child = online.start_child(command, tmp_path / "child.log")
    try:
        # Its own process group (stop_child kills COLMAP with it), in the node's session: a session of its own would
        # be an autogroup with an equal CPU share whatever its niceness (online.start_child).
        assert os.getpgid(child.pid) == child.pid and os.getsid(child.pid) == os.getsid(0)
        assert child.wait(timeout=120) == cli.EXIT_BAD_INPUT, (tmp_path / "child.log").read_text()
    finally:
        online.stop_child(child)
    ran = json.loads(summary.read_text())
    assert ran["status"] == "bad_input" and "no images" in ran["reason"]
    assert ran["niceness"] == online.CHILD_NICENESS == 19
    assert ran["colmap_threads"] == online.CHILD_THREADS == 1 and ran["opencv_threads"] == 1


@pytest.mark.skipif(not (SHARED_DATA / "sequences" / "tum_fr3_office_1hz").is_dir(), reason=NEEDS_SHARED)
def test_a_real_clip_calibrates_within_tolerance(tmp_path, capsys):
    """TUM fr3 office (17 real frames at 1 Hz, calibrated fx 535.4 px at 640x480), given at 320x240 to keep the run
    short: fx within 5 % at the frames' size, the principal point at the centre."""
    sequence = TumSequence.load(SHARED_DATA / "sequences" / "tum_fr3_office_1hz")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(len(sequence.rgb)):
        small = cv2.resize(sequence.read_rgb(i), (320, 240), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(frames / f"{i:04d}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    output = tmp_path / "office.yaml"
    assert cli.main(["--frames", str(frames), "--rate-hz", "1", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    for field in ("fx ", "fy ", "cx ", "cy ", "radial k1", "registered", "reprojection error", "frames used"):
        assert field in printed, printed
    calibration = read_camera_info(output)
    truth = sequence.calibration.K[0, 0] * 320 / sequence.calibration.width
    assert (calibration.width, calibration.height, calibration.camera_name) == (320, 240, "office")
    assert abs(calibration.K[0, 0] / truth - 1) < 0.05, (calibration.K[0, 0], truth)
    assert calibration.K[0, 2] == pytest.approx(159.5) and calibration.K[1, 2] == pytest.approx(119.5)


# --- the node -------------------------------------------------------------------------------------------------------
@pytest.fixture()
def ros_context():
    rclpy.init()
    yield
    rclpy.try_shutdown()


class RecordingLogger:
    """Stands in for the node's rclpy logger: keeps ``(level, message)``."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level: str):
        return lambda message, **_: self.lines.append((level, str(message)))

    def text(self) -> str:
        return "\n".join(message for _, message in self.lines)


def _node(monkeypatch, tiny_checkpoint, **overrides) -> tuple[SS3DNode, RecordingLogger, list]:
    node = SS3DNode(namespace="/calibration_test", parameter_overrides=[
        Parameter(name, value=value) for name, value in {
            "autostart": False, "checkpoint": str(tiny_checkpoint), "backend": "torch", "publish_tf": False,
            **overrides}.items()])
    log = RecordingLogger()
    monkeypatch.setattr(node, "get_logger", lambda: log)
    return node, log, []


def _activate(node: SS3DNode, published: list) -> None:
    assert node.trigger_configure() == rclpy.lifecycle.TransitionCallbackReturn.SUCCESS, node
    assert node.trigger_activate() == rclpy.lifecycle.TransitionCallbackReturn.SUCCESS
    node._pubs["camera_info"].publish = published.append


def _frame(rgb: np.ndarray, stamp_ns: int):
    header = Header(frame_id=FRAME_ID)
    header.stamp = ns_to_stamp(stamp_ns)
    return rgb8_to_image_msg(rgb, header), 0.0


def _stop(node: SS3DNode) -> None:
    node.trigger_shutdown()
    node.destroy_node()


def _expected_K(calibration: CameraInfoFile, info) -> np.ndarray:
    return scale_K(calibration.K, (calibration.width, calibration.height), (info.width, info.height))


CALIBRATION = CameraInfoFile(K=np.array([[610.0, 0.0, 470.0], [0.0, 612.0, 275.0], [0.0, 0.0, 1.0]]), width=960,
                             height=540, camera_name=FRAME_ID, D=np.array([-0.05, 0.0, 0.0, 0.0, 0.0]))


def test_camera_info_url_replaces_the_learned_K_on_camera_info(ros_context, tiny_checkpoint, monkeypatch, tmp_path,
                                                               sample_frames):
    path = write_camera_info(tmp_path / "camera.yaml", CALIBRATION)
    node, log, published = _node(monkeypatch, tiny_checkpoint, camera_info_url=f"file://{path}")
    try:
        _activate(node, published)
        node._process(_frame(sample_frames[0], BASE_NS))
        [info] = published
        np.testing.assert_allclose(np.reshape(info.k, (3, 3)), _expected_K(CALIBRATION, info), rtol=1e-9)
        assert info.distortion_model == "plumb_bob" and info.d[0] == pytest.approx(-0.05)
        assert "replaces the learned K" in log.text()
    finally:
        _stop(node)
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_width: 960\n")
    node, log, _ = _node(monkeypatch, tiny_checkpoint, camera_info_url=f"file://{bad}")
    try:
        assert node.trigger_configure() == rclpy.lifecycle.TransitionCallbackReturn.FAILURE
        assert "configure failed: camera_info_url:" in log.text() and "missing field image_height" in log.text()
    finally:
        node.destroy_node()


# The calibration child's protocol: a camera_info YAML at the key frames' size (COLMAP's working size, 640x360 for
# 960x540 frames) only when accepted, and a summary JSON either way.
FAKE_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from ss3d_core.calibration.camera_info_file import CameraInfoFile, write_camera_info
    from ss3d_core.camera import scale_K
    output, summary, status = sys.argv[1], sys.argv[2], sys.argv[3]
    if status == "ok":
        K = scale_K(np.array([[610.0, 0.0, 470.0], [0.0, 612.0, 275.0], [0.0, 0.0, 1.0]]), (960, 540), (640, 360))
        write_camera_info(output, CameraInfoFile(K=K, width=640, height=360, camera_name=sys.argv[4],
                                                 D=np.array([-0.05, 0.0, 0.0, 0.0, 0.0])))
        result = {"status": "ok", "seconds": 1.0}
    else:
        result = {"status": "refused", "kind": "motion", "reason": "too little motion: 0 of 11 frame pairs move"}
    open(summary, "w").write(json.dumps(result))
""")


def _fake_child(status: str):
    def command(frames: Path, output: Path, camera_name: str, summary: Path, timeout_s: float) -> list[str]:
        assert len(list(frames.glob("*.png"))) == TEST_KEYFRAMES
        return [sys.executable, "-c", FAKE_CHILD, str(output), str(summary), status, camera_name]
    return command


def _poll_until(node: SS3DNode, state: str, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        node._poll_calibration()
        if node._online.state().state == state:
            return
        time.sleep(0.05)
    pytest.fail(f"self_calibrate did not reach {state!r}: {node._online.state()}")


def _feed_keyframes(node: SS3DNode, frames: list[np.ndarray], start_ns: int) -> int:
    stamp = start_ns
    for i in range(TEST_KEYFRAMES):
        node._process(_frame(frames[i % len(frames)], stamp))
        stamp += KEYFRAME_PERIOD_NS
    return stamp


def test_self_calibration_adopts_a_result_and_restarts_with_it_from_the_cache(ros_context, tiny_checkpoint,
                                                                              monkeypatch, tmp_path, sample_frames):
    monkeypatch.setattr(online, "colmap_available", lambda: (True, "test"))
    cache = tmp_path / "cache"
    node, log, published = _node(monkeypatch, tiny_checkpoint, self_calibrate=True, cache_dir=str(cache))
    try:
        _activate(node, published)
        node._online.retry_delay_s = 0.0  # collect again at once after a refusal
        node._online.keyframes = TEST_KEYFRAMES
        node._process(_frame(sample_frames[0], BASE_NS))
        node._poll_calibration()
        assert node._online.state().state == "collecting"
        # A refused attempt: the learned K stays, the reason is shown, collecting starts again after the delay.
        monkeypatch.setattr(online, "child_command", _fake_child("refused"))
        stamp = _feed_keyframes(node, sample_frames, BASE_NS + KEYFRAME_PERIOD_NS)
        _poll_until(node, "running", 5.0)
        _poll_until(node, "rejected")
        node._publish_diagnostics()
        assert "too little motion" in node._online.state().detail and node._calibration is None
        assert not online.cache_file(cache, FRAME_ID, 960, 540).exists()
        _poll_until(node, "collecting", 5.0)
        # An accepted attempt: adopted, cached, published.
        monkeypatch.setattr(online, "child_command", _fake_child("ok"))
        stamp = _feed_keyframes(node, sample_frames, stamp)
        _poll_until(node, "adopted")
        published.clear()
        node._process(_frame(sample_frames[1], stamp))
        [info] = published
        np.testing.assert_allclose(np.reshape(info.k, (3, 3)), _expected_K(CALIBRATION, info), rtol=1e-9)
        assert online.cache_file(cache, FRAME_ID, 960, 540).is_file()
        for step in (f"collecting {TEST_KEYFRAMES} key frames", "running ss3d_calibrate", "rejected (too little motion",
                     "adopted K"):
            assert step in log.text(), log.text()
    finally:
        _stop(node)
    # The next start publishes the cached K from the first frame on, without collecting.
    monkeypatch.setattr(online, "child_command", lambda *_: pytest.fail("no child after a cached calibration"))
    node, log, published = _node(monkeypatch, tiny_checkpoint, self_calibrate=True, cache_dir=str(cache))
    try:
        _activate(node, published)
        node._process(_frame(sample_frames[0], BASE_NS))
        node._poll_calibration()
        assert node._online.state().state == "adopted" and "cached" in node._online.state().detail
        node._process(_frame(sample_frames[1], BASE_NS + KEYFRAME_PERIOD_NS))
        np.testing.assert_allclose(np.reshape(published[-1].k, (3, 3)), _expected_K(CALIBRATION, published[-1]),
                                   rtol=1e-9)
    finally:
        _stop(node)


def test_without_pycolmap_self_calibration_logs_one_line_and_keeps_the_learned_K(ros_context, tiny_checkpoint,
                                                                                 monkeypatch, tmp_path, sample_frames):
    monkeypatch.setattr(online, "colmap_available", lambda: (False, "pycolmap is not installed"))
    node, log, published = _node(monkeypatch, tiny_checkpoint, self_calibrate=True, cache_dir=str(tmp_path))
    try:
        _activate(node, published)
        for i in range(3):
            node._process(_frame(sample_frames[i], BASE_NS + i * KEYFRAME_PERIOD_NS))
            node._poll_calibration()
        assert sum("self_calibrate" in message for _, message in log.lines) == 1, log.lines
        assert "pycolmap is not installed" in log.text() and node._calibration is None
        assert node._online.state().state == "unavailable"
    finally:
        _stop(node)


def test_key_frames_are_written_by_the_writer_thread_and_a_failed_write_rejects(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(online, "colmap_available", lambda: (True, "test"))
    children = []
    monkeypatch.setattr(online, "child_command", _fake_child("refused"))
    writers = []
    write = online._write_keyframe

    def recording_write(rgb, path):
        writers.append(threading.current_thread().name)
        write(rgb, path)

    monkeypatch.setattr(online, "_write_keyframe", recording_write)
    rgb = np.random.default_rng(0).integers(0, 255, (540, 960, 3), dtype=np.uint8)
    calibration = online.OnlineCalibration(tmp_path, keyframes=TEST_KEYFRAMES, retry_delay_s=0.0)
    try:
        calibration.offer(rgb, BASE_NS, FRAME_ID)
        calibration.poll(now=0.0)  # the camera is known: collecting
        for i in range(TEST_KEYFRAMES):
            calibration.offer(rgb, BASE_NS + i * KEYFRAME_PERIOD_NS, FRAME_ID)
        messages = calibration.poll(now=1.0)  # all kept: the child starts on the written frames (_fake_child checks)
        assert calibration.state().state == "running", messages
        assert len(writers) == TEST_KEYFRAMES and all(name.startswith("ss3d_keyframes") for name in writers)
        frames = sorted(calibration._folder.glob("frames/*.png"))
        assert cv2.imread(str(frames[0])).shape == (360, 640, 3)  # COLMAP's working size of 960x540
        children.append(calibration._child)
        calibration._child.wait(timeout=60)
        calibration.poll(now=2.0)
        assert calibration.state().state == "rejected"

        def failing_write(rgb, path):
            raise OSError("No space left on device")

        monkeypatch.setattr(online, "_write_keyframe", failing_write)
        calibration.poll(now=3.0)  # collecting again
        for i in range(TEST_KEYFRAMES):
            calibration.offer(rgb, BASE_NS + (100 + i) * KEYFRAME_PERIOD_NS, FRAME_ID)
        messages = calibration.poll(now=4.0)
        assert calibration.state().state == "rejected" and len(children) == 1
        assert "could not write the key frames: No space left on device" in calibration.state().detail, messages
    finally:
        calibration.close()
