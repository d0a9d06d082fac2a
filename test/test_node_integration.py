"""The node as its own process over real DDS: outputs carry input stamps; bad inputs are counted drops."""

from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from ss3d_ros.conversions import ns_to_stamp, rgb8_to_image_msg
from ss3d_ros.node import SENSOR_QOS
from ss3d_ros.tools.node_process import NodeProcess
from ss3d_ros.tools.output_recorder import OutputRecorder
from ss3d_ros.tools.spinner import BackgroundSpinner

START_TIMEOUT_S = 60.0
OUTPUT_TIMEOUT_S = 20.0
# Re-publish a best-effort frame only after this long, so a slow but delivered frame is not duplicated.
RESEND_AFTER_S = 5.0
FRAME_ID = "test_camera_optical_frame"


class Client:
    """Publisher + recorder on one rclpy node, spun in a background thread."""

    def __init__(self, namespace: str):
        self.node = rclpy.create_node("ss3d_test_client", namespace=namespace)
        self.publisher = self.node.create_publisher(Image, "image", SENSOR_QOS)
        self.recorder = OutputRecorder(self.node, {k: f"{namespace}/{k}" for k in ("depth", "camera_info", "odom")},
                                       bag_dir=None)
        executor = SingleThreadedExecutor()
        executor.add_node(self.node)
        self.spinner = BackgroundSpinner(executor, name="ss3d-test-spin")
        self.spinner.start()

    def wait_matched(self, process: NodeProcess) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert process.alive(), process.log_tail()
            node_sees_us = int(self.recorder.outputs.diagnostics.get("image_publishers", "0")) > 0
            if self.publisher.get_subscription_count() > 0 and self.recorder.matched() and node_sees_us:
                return
            time.sleep(0.05)
        pytest.fail(f"node did not match within {START_TIMEOUT_S} s:\n{process.log_tail()}")

    def send_and_wait(self, msg: Image, stamp_ns: int) -> bool:
        """Publish until the output for ``stamp_ns`` arrives (best-effort QoS may lose a sample)."""
        deadline = time.monotonic() + OUTPUT_TIMEOUT_S
        while time.monotonic() < deadline:
            self.publisher.publish(msg)
            until = time.monotonic() + RESEND_AFTER_S
            while time.monotonic() < until:
                if stamp_ns in self.recorder.outputs.arrivals["odom"]:
                    return True
                time.sleep(0.01)
        return False

    def wait_diagnostics(self, predicate, timeout_s: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            diag = dict(self.recorder.outputs.diagnostics)
            if predicate(diag):
                return diag
            time.sleep(0.1)
        return dict(self.recorder.outputs.diagnostics)

    def send_until_diagnostics(self, msg: Image, predicate, timeout_s: float = 15.0) -> dict:
        """Publish ``msg`` (again every second, best effort may lose it) until the diagnostics satisfy ``predicate``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.publisher.publish(msg)
            diag = self.wait_diagnostics(predicate, timeout_s=1.0)
            if predicate(diag):
                return diag
        return dict(self.recorder.outputs.diagnostics)

    def close(self) -> None:
        self.spinner.stop()
        self.node.destroy_node()


def _image(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8") -> Image:
    header = Header(frame_id=FRAME_ID)
    header.stamp = ns_to_stamp(stamp_ns)
    return rgb8_to_image_msg(rgb, header, encoding)


@pytest.fixture()
def running_node(tmp_path, tiny_checkpoint):
    namespace = f"/it{os.getpid()}"
    process = NodeProcess(["-r", f"__ns:={namespace}", "-p", f"checkpoint:={tiny_checkpoint}",
                           "-p", "backend:=torch", "-p", "diagnostics_period_s:=0.2", "-p", "warn_throttle_s:=0.0"],
                          tmp_path / "node.log")
    rclpy.init()
    client = Client(namespace)
    process.start()
    try:
        client.wait_matched(process)
        yield process, client
    finally:
        process.stop()
        client.close()
        rclpy.shutdown()


def test_outputs_carry_input_stamps_and_bad_inputs_are_counted(running_node, sample_frames):
    process, client = running_node
    frames = [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in sample_frames]
    base = 1_700_000_000_000_000_000
    stamps = [base + i * 50_000_000 for i in range(5)]
    encodings = ("rgb8", "bgr8", "mono8", "bgra8", "mono16")
    for i, (stamp, encoding) in enumerate(zip(stamps, encodings)):
        assert client.send_and_wait(_image(frames[i % 3], stamp, encoding), stamp), process.log_tail()
    out = client.recorder.outputs
    for kind in ("depth", "camera_info", "odom"):
        assert set(stamps) <= set(out.arrivals[kind]), kind
    depth = out.depth[stamps[-1]]
    K, width, height = out.camera_info
    assert depth.shape == (height, width) == (64, 96) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and (depth > 0).all()
    assert K[0, 0] > 0 and K[1, 1] > 0
    positions = [T[:3, 3] for _, T in out.odometry]
    assert all(np.isfinite(p).all() for p in positions)

    # Bad inputs: each is a counted drop, never a crash.
    good = frames[0]
    bad = _image(good, base + 10**9)
    bad.encoding = "yuv422"
    empty = _image(good, base + 2 * 10**9)
    empty.width, empty.height, empty.step, empty.data = 0, 0, 0, []
    wrong_step = _image(good, base + 3 * 10**9)
    wrong_step.step = wrong_step.step - 3
    for msg, reason in ((bad, "unsupported_encoding"), (empty, "empty"), (wrong_step, "step_mismatch")):
        diag = client.send_until_diagnostics(msg, lambda d, r=reason: int(d.get(f"drops_{r}", 0)) >= 1)
        assert int(diag.get(f"drops_{reason}", 0)) >= 1, diag

    # A size change mid-stream and a stamp going backwards restart odometry and are reported.
    small = cv2.resize(good, (160, 90), interpolation=cv2.INTER_AREA)
    t_small = base + 4 * 10**9
    assert client.send_and_wait(_image(small, t_small), t_small)
    t_back = base + 3_500_000_000
    assert client.send_and_wait(_image(small, t_back), t_back)
    diag = client.wait_diagnostics(lambda d: int(d.get("events_odometry_reset_stamp_backwards", 0)) >= 1)
    assert int(diag.get("events_odometry_reset_resolution_change", 0)) >= 1, diag
    assert int(diag.get("events_odometry_reset_stamp_backwards", 0)) >= 1, diag
    assert process.alive(), process.log_tail()


def test_configure_fails_clearly_on_a_bad_checkpoint(tmp_path):
    process = NodeProcess(["-p", f"checkpoint:={tmp_path / 'missing'}", "-p", "backend:=torch"], tmp_path / "n.log")
    process.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.stop() == 1
    log = process.log_path.read_text()
    assert "configure failed" in log and "missing" in log


def test_sigint_while_frames_stream_shuts_down_in_order(running_node, sample_frames):
    """SIGINT mid-stream: the node goes through its lifecycle shutdown (the worker finishes its frame and stops)
    before the context goes, so nothing publishes on an invalid context and no transition fails; exit status 0.

    Before the fix rclpy's signal handler shut the context down at once and the shutdown transition was skipped; the
    race symptoms showed in about 1 run of 5 with the bundled checkpoint (slow inference), rarely with the tiny one,
    so the deterministic check is that the shutdown transition ran."""
    process, client = running_node
    frame = cv2.resize(sample_frames[0], (320, 180), interpolation=cv2.INTER_AREA)
    base = 1_700_000_000_000_000_000
    assert client.send_and_wait(_image(frame, base), base), process.log_tail()
    streaming = threading.Event()
    streaming.set()

    def stream() -> None:
        i = 1
        while streaming.is_set():
            client.publisher.publish(_image(frame, base + i * 33_000_000))
            i += 1
            time.sleep(1.0 / 30.0)

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + OUTPUT_TIMEOUT_S
        while len(client.recorder.outputs.arrivals["depth"]) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.stop() == 0, process.log_tail()
    finally:
        streaming.clear()
        thread.join()
    log = process.log_path.read_text()
    assert "shut down: inference stopped after" in log, log  # the lifecycle shutdown ran, with the context valid
    for symptom in ("Failed to publish", "context is invalid", "Failed to complete transition", "Traceback"):
        assert symptom not in log, log
