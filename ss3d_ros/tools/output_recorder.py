"""Subscribe to the node's outputs, write them to a rosbag2 (MCAP, via rosbags) and keep what reports need."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image

from ss3d_core.pose import pose_from_quaternion_translation
from ss3d_ros.conversions import camera_info_to_K, image_msg_to_depth_m, stamp_to_ns
from ss3d_ros.node import OUTPUT_QOS

ROS_TYPE_NAMES = {
    Image: "sensor_msgs/msg/Image",
    CameraInfo: "sensor_msgs/msg/CameraInfo",
    Odometry: "nav_msgs/msg/Odometry",
    DiagnosticArray: "diagnostic_msgs/msg/DiagnosticArray",
}


@dataclass
class RecordedOutputs:
    """What was received, by kind.

    Attributes:
        arrivals: ``{kind: {stamp_ns: monotonic arrival time (s)}}`` for depth, camera_info and odom.
        depth: ``{stamp_ns: h×w float32 depth}`` (kept only when ``keep_depth``).
        odometry: ``[(stamp_ns, T_odom_camera 4×4)]`` in arrival order.
        camera_info: last ``(K 3×3, width, height)`` received.
        diagnostics: last ``{key: value}`` of the node's diagnostic status.
        counts: messages received per kind.
    """

    arrivals: dict[str, dict[int, float]] = field(default_factory=lambda: {"depth": {}, "camera_info": {}, "odom": {}})
    depth: dict[int, np.ndarray] = field(default_factory=dict)
    odometry: list[tuple[int, np.ndarray]] = field(default_factory=list)
    camera_info: tuple[np.ndarray, int, int] | None = None
    diagnostics: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"depth": 0, "camera_info": 0, "odom": 0, "diagnostics": 0})


def odometry_to_T(msg: Odometry) -> np.ndarray:
    """``T_odom_child`` 4×4 from a ``nav_msgs/Odometry`` pose."""
    q, p = msg.pose.pose.orientation, msg.pose.pose.position
    return pose_from_quaternion_translation([q.x, q.y, q.z, q.w], [p.x, p.y, p.z])


class OutputRecorder:
    """Records ``depth``, ``camera_info``, ``odom`` (reliable QoS) and ``/diagnostics`` seen by ``node``.

    Args:
        node: the rclpy node to create subscriptions on.
        topics: ``{kind: resolved topic}`` for kinds ``depth``, ``camera_info``, ``odom``.
        bag_dir: output rosbag2 folder (MCAP storage; replaced if it exists), or ``None`` to not write a bag.
        keep_depth: keep decoded depth images in memory (for figures and scoring).
    """

    def __init__(self, node: Node, topics: dict[str, str], bag_dir: Path | None, keep_depth: bool = True):
        self.outputs = RecordedOutputs()
        self.keep_depth = keep_depth
        self._lock = threading.Lock()
        self._writer = None
        self._connections: dict[str, Any] = {}
        types = {"depth": Image, "camera_info": CameraInfo, "odom": Odometry}
        all_topics = {**{k: (topics[k], types[k]) for k in types}, "diagnostics": ("/diagnostics", DiagnosticArray)}
        if bag_dir is not None:
            from rosbags.rosbag2 import StoragePlugin, Writer
            from rosbags.typesys import Stores, get_typestore

            if bag_dir.exists():
                shutil.rmtree(bag_dir)
            bag_dir.parent.mkdir(parents=True, exist_ok=True)
            self._writer = Writer(bag_dir, version=9, storage_plugin=StoragePlugin.MCAP)
            self._writer.open()
            typestore = get_typestore(Stores.ROS2_KILTED)
            for kind, (topic, msg_type) in all_topics.items():
                self._connections[kind] = self._writer.add_connection(topic, ROS_TYPE_NAMES[msg_type],
                                                                      typestore=typestore)
        self.subscriptions = {
            kind: node.create_subscription(msg_type, topic, lambda msg, k=kind: self._on_message(k, msg),
                                           OUTPUT_QOS if kind != "diagnostics" else 10)
            for kind, (topic, msg_type) in all_topics.items()
        }

    def matched(self) -> bool:
        """True once every output subscription is matched with a publisher."""
        return all(self.subscriptions[k].get_publisher_count() > 0 for k in ("depth", "camera_info", "odom"))

    def _on_message(self, kind: str, msg: Any) -> None:
        arrived = time.monotonic()
        with self._lock:
            if self._writer is not None:
                self._writer.write(self._connections[kind], time.time_ns(), serialize_message(msg))
            out = self.outputs
            out.counts[kind] += 1
            if kind == "diagnostics":
                for status in msg.status:
                    out.diagnostics = {kv.key: kv.value for kv in status.values}
                return
            stamp = stamp_to_ns(msg.header.stamp)
            out.arrivals[kind][stamp] = arrived
            if kind == "depth" and self.keep_depth:
                out.depth[stamp] = image_msg_to_depth_m(msg)
            elif kind == "odom":
                out.odometry.append((stamp, odometry_to_T(msg)))
            elif kind == "camera_info":
                out.camera_info = camera_info_to_K(msg)

    def close(self) -> None:
        """Finish the bag (call after spinning stopped)."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
