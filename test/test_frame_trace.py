"""The node's frame trace (``trace_file``): hand-off times per frame, stale frames, GC pauses, the JSON file."""

from __future__ import annotations

import gc
import json

import pytest
import rclpy
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from ss3d_ros.conversions import ns_to_stamp, rgb8_to_image_msg
from ss3d_ros.frame_trace import HANDOFFS, FrameTrace
from ss3d_ros.node import SS3DNode

BASE_NS = 1_700_000_000_000_000_000


def test_records_frames_and_gc_pauses_and_refuses_unknown_fields(tmp_path):
    trace = FrameTrace(capacity=2)
    for i in range(3):  # the oldest is forgotten
        trace.frame(BASE_NS + i, "published", {"received": 1.0 + i, "published": 1.5 + i}, {"inference_ms": 9.0})
    with pytest.raises(KeyError, match="unknown trace fields"):
        trace.frame(BASE_NS, "published", {"arrived": 1.0}, {})
    trace.start_gc_timing()
    gc.collect()
    trace.stop_gc_timing()
    trace.stop_gc_timing()  # idempotent
    written = json.loads(trace.write(tmp_path / "sub" / "trace.json").read_text())
    assert [f["stamp_ns"] for f in written["frames"]] == [BASE_NS + 1, BASE_NS + 2]
    assert written["frames"][0] == {"stamp_ns": BASE_NS + 1, "outcome": "published", "received": 2.0,
                                    "published": 2.5, "inference_ms": 9.0}
    full = [p for p in written["gc_pauses"] if p["generation"] == 2]  # gc.collect(); young collections may join
    assert len(full) == 1 and full[0]["duration_ms"] >= 0.0


def test_node_traces_published_stale_and_dropped_frames_at_shutdown(tmp_path, tiny_checkpoint, sample_frames):
    path = tmp_path / "trace.json"
    rclpy.init()
    try:
        node = SS3DNode(namespace="/trace_test", parameter_overrides=[
            Parameter("autostart", value=False), Parameter("checkpoint", value=str(tiny_checkpoint)),
            Parameter("backend", value="torch"), Parameter("publish_tf", value=False),
            Parameter("trace_file", value=str(path))])
        assert node.trigger_configure() == rclpy.lifecycle.TransitionCallbackReturn.SUCCESS
        messages = []
        for i, rgb in enumerate([sample_frames[0], sample_frames[1], sample_frames[0][:10]]):
            header = Header(frame_id="camera")
            header.stamp = ns_to_stamp(BASE_NS + i * 50_000_000)
            messages.append(rgb8_to_image_msg(rgb, header))
        node._process((messages[0], 10.0))
        node._on_superseded((messages[1], 11.0))
        node._process((messages[2], 12.0))
        node.trigger_shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    frames = json.loads(path.read_text())["frames"]
    assert [(f["stamp_ns"] - BASE_NS, f["outcome"]) for f in frames] == [
        (0, "published"), (50_000_000, "stale"), (100_000_000, "too_small")]
    published = frames[0]
    assert [published[name] for name in HANDOFFS] == sorted(published[name] for name in HANDOFFS)
    assert published["received"] == 10.0 and published["inference_ms"] > 0.0
    assert set(frames[1]) == {"stamp_ns", "outcome", "received"}
