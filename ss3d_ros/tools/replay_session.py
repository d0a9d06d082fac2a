"""One replay session over real DDS: start the node process, publish a frame source into it, record its outputs.

Shared by ``ss3d_demo`` and ``ss3d_replay``. The client side (publisher + recorder) is an ordinary rclpy node in
this process; the ``ss3d`` node runs in its own process, as on a robot.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, Image

from ss3d_core.io.bag_errors import BagReadError
from ss3d_ros.node import SENSOR_QOS
from ss3d_ros.tools.frame_sources import PlaybackFrame
from ss3d_ros.tools.node_process import NodeProcess
from ss3d_ros.tools.output_recorder import OutputRecorder, RecordedOutputs
from ss3d_ros.tools.player import play
from ss3d_ros.tools.share_files import use_large_message_transport
from ss3d_ros.tools.spinner import BackgroundSpinner

LOG = logging.getLogger(__name__)
# Model loading (and a first ONNX export) can take a while on a small CPU.
DEFAULT_READY_TIMEOUT_S = 180.0
# After the last frame, wait this long for outstanding outputs.
DRAIN_TIMEOUT_S = 10.0
# Wait for diagnostics to report the final counters after the last output (one diagnostics period and a margin).
FINAL_DIAGNOSTICS_WAIT_S = 1.5


class SessionError(RuntimeError):
    """The node did not start, died, or never matched the client's topics."""


@dataclass
class SessionResult:
    """Raw material of a report.

    Attributes:
        published: ``{stamp_ns: monotonic publish time (s)}``.
        previews: ``{stamp_ns: small RGB preview}``.
        outputs: everything recorded from the node.
        wall_s: duration of the playback (first publish to last output or drain timeout), seconds.
        node_log: the node's log file.
        bag_dir: the recorded rosbag2 (MCAP) folder, or ``None``.
        playback_error: why playback stopped before the end of the input (a bag damaged mid-file), or ``None``.
    """

    published: dict[int, float] = field(default_factory=dict)
    previews: dict[int, np.ndarray] = field(default_factory=dict)
    outputs: RecordedOutputs = field(default_factory=RecordedOutputs)
    wall_s: float = 0.0
    node_log: Path | None = None
    bag_dir: Path | None = None
    playback_error: str | None = None


def run_session(
    frames: list[PlaybackFrame] | object,
    node_ros_args: list[str],
    out_dir: Path,
    rate: float | None = 1.0,
    bag_dir: Path | None = None,
    namespace: str = "/ss3d_session",
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
    camera_info: bytes | None = None,
    keep_depth: bool = True,
) -> SessionResult:
    """Start the node, play ``frames`` into ``<namespace>/image``, record outputs; always stops the node.

    Args:
        frames: iterable of :class:`PlaybackFrame` in stamp order.
        node_ros_args: extra ``--ros-args`` for the node (params file, ``-p`` overrides).
        out_dir: folder for the node log.
        rate: playback speed (1.0 = recorded rate) or ``None`` for lock-step (no drops by construction).
        bag_dir: rosbag2 output folder (MCAP), or ``None``.
        namespace: namespace of the node and all its topics.
        ready_timeout_s: how long to wait for the node to come up.
        camera_info: a serialised ``sensor_msgs/CameraInfo`` published on ``camera_info_in`` before every frame
            (for ``use_camera_info``), or ``None``.
        keep_depth: decode every depth image into :attr:`RecordedOutputs.depth` (figures, scoring); a benchmark that
            needs only arrival times leaves this work out of the client process.

    A :class:`~ss3d_core.io.bag_errors.BagReadError` raised by ``frames`` mid-playback stops playback there: the
    outputs of the frames already played are still collected, the node is stopped, and the reason is in
    :attr:`SessionResult.playback_error`.

    Raises:
        SessionError: with the tail of the node's log, if it fails to start or dies.
    """
    result = SessionResult(node_log=out_dir / "node.log", bag_dir=bag_dir)
    process = NodeProcess(["-r", f"__ns:={namespace}", *node_ros_args], result.node_log)
    use_large_message_transport()
    owns_context = not rclpy.ok()
    if owns_context:
        rclpy.init()
    client = rclpy.create_node("ss3d_replay_client", namespace=namespace)
    executor = SingleThreadedExecutor()
    executor.add_node(client)
    spinner = BackgroundSpinner(executor, name="ss3d-replay-spin")
    recorder = None
    try:
        publisher = client.create_publisher(Image, "image", SENSOR_QOS)
        info_publisher = client.create_publisher(CameraInfo, "camera_info_in", SENSOR_QOS) if camera_info else None
        recorder = OutputRecorder(
            client, {k: f"{namespace}/{k}" for k in ("depth", "camera_info", "odom")}, bag_dir, keep_depth=keep_depth
        )
        spinner.start()
        process.start()
        _wait_ready(process, publisher, recorder, ready_timeout_s)
        LOG.info("node is up; playing frames")

        def publish(frame: PlaybackFrame) -> None:
            if not process.alive():
                raise SessionError(f"the node exited (code {process.returncode}):\n{process.log_tail()}")
            if info_publisher is not None:
                info_publisher.publish(camera_info)
            publisher.publish(frame.message)

        def on_published(frame: PlaybackFrame, t: float) -> None:
            result.published[frame.stamp_ns] = t
            result.previews[frame.stamp_ns] = frame.preview

        def output_arrived(stamp_ns: int) -> bool:
            return stamp_ns in recorder.outputs.arrivals["depth"]

        start = time.monotonic()
        try:
            play(frames, publish, rate, output_arrived=output_arrived, on_published=on_published)
        except BagReadError as err:
            result.playback_error = str(err)
            LOG.error("playback stopped after %d frame(s): %s", len(result.published), err)
        _drain(result, recorder, process)
        time.sleep(FINAL_DIAGNOSTICS_WAIT_S)
        arrivals = list(recorder.outputs.arrivals["depth"].values())
        result.wall_s = (max(arrivals) if arrivals else time.monotonic()) - start
        result.outputs = recorder.outputs
    finally:
        process.stop()
        spinner.stop()  # the spin thread ends before the node and the context go (no rclpy wait may outlive them)
        if recorder is not None:
            recorder.close()
        client.destroy_node()
        if owns_context:
            rclpy.try_shutdown()
    return result


def _wait_ready(process: NodeProcess, publisher: object, recorder: OutputRecorder, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            raise SessionError(f"the node exited during start-up (code {process.returncode}):\n{process.log_tail()}")
        # Both directions must match: the node's reader must know our writer, or first frames are lost.
        node_sees_us = int(recorder.outputs.diagnostics.get("image_publishers", "0")) > 0
        if publisher.get_subscription_count() > 0 and recorder.matched() and node_sees_us:
            return
        time.sleep(0.05)
    raise SessionError(f"the node did not come up within {timeout_s:.0f} s:\n{process.log_tail()}")


def _drain(result: SessionResult, recorder: OutputRecorder, process: NodeProcess) -> None:
    """Wait until every published frame has an output, the node stops producing, or the timeout."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline and process.alive():
        count = len(recorder.outputs.arrivals["depth"])
        if count >= len(result.published):
            return
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > 2.0:
            return  # the remaining frames were dropped by the node
        time.sleep(0.02)


def summarise(result: SessionResult) -> dict[str, object]:
    """Counts, output rate, latency percentiles, drops and the last estimated intrinsics."""
    out = result.outputs
    arrivals = out.arrivals["depth"]
    latencies = np.array([(arrivals[s] - t) * 1e3 for s, t in result.published.items() if s in arrivals])
    times = sorted(arrivals.values())
    pub_times = sorted(result.published.values())
    summary: dict[str, object] = {
        "frames_published": len(result.published),
        "messages_received": {k: out.counts[k] for k in ("depth", "odom", "camera_info", "diagnostics")},
        "input_rate_hz": (len(pub_times) - 1) / (pub_times[-1] - pub_times[0]) if len(pub_times) > 1 else None,
        "output_rate_hz": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else None,
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)) if latencies.size else None,
            "p95": float(np.percentile(latencies, 95)) if latencies.size else None,
            "max": float(latencies.max()) if latencies.size else None,
            "definition": "depth message arrival minus input publish time, same host (monotonic clock)",
        },
        "drops": {
            "frames_without_output": len(result.published) - len(set(result.published) & set(arrivals)),
            "node_reported": {k: int(v) for k, v in out.diagnostics.items() if k.startswith("drops_")},
        },
        "node": {k: out.diagnostics[k] for k in ("backend", "inference_p50_ms") if k in out.diagnostics},
        "wall_s": result.wall_s,
        "playback_error": result.playback_error,
    }
    if out.camera_info is not None:
        K, w, h = out.camera_info
        summary["estimated_intrinsics"] = {
            "depth_size": [w, h],
            "K": np.round(K, 3).tolist(),
            "fx_over_width": K[0, 0] / w,
            "fy_over_height": K[1, 1] / h,
            "cx_over_width": (K[0, 2] + 0.5) / w,
            "cy_over_height": (K[1, 2] + 0.5) / h,
        }
    return summary
