"""Ground truth of a replayed log, read without ROS: a TUM trajectory file, an odometry or TF topic, a depth topic.

``ss3d_replay`` and training's fine-tuning report (``training.finetune``, which never imports the node package) read
ground truth the same way. Poses are
``T_world_camera`` of the camera optical frame (REP 103), metres; stamps integer nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ss3d_core.io.bag_errors import reading_bag
from ss3d_core.io.image_message import image_msg_to_depth_m
from ss3d_core.io.stamps import NANOSECONDS_PER_SECOND, seconds_to_ns, stamp_to_ns
from ss3d_core.io.tum_sequence import DEFAULT_MAX_TIME_DIFF_S, read_tum_trajectory
from ss3d_core.pose import pose_from_quaternion_translation

__all__ = ["GroundTruthTrajectory", "depth_from_bag", "trajectory_from_bag", "trajectory_from_tum_file"]



@dataclass(frozen=True)
class GroundTruthTrajectory:
    """``stamps_ns`` (N,) int64 and ``poses`` N×4×4 ``T_world_camera`` (metres), sorted by stamp."""

    stamps_ns: np.ndarray
    poses: np.ndarray
    source: str

    def pose_at(self, stamp_ns: int, max_diff_s: float = DEFAULT_MAX_TIME_DIFF_S) -> np.ndarray | None:
        """Nearest pose within ``max_diff_s``, else ``None``."""
        if self.stamps_ns.size == 0:
            return None
        i = int(np.argmin(np.abs(self.stamps_ns - stamp_ns)))
        return self.poses[i] if abs(int(self.stamps_ns[i]) - stamp_ns) <= max_diff_s * NANOSECONDS_PER_SECOND else None


def trajectory_from_tum_file(path: Path) -> GroundTruthTrajectory:
    """Read a TUM trajectory file (:func:`ss3d_core.io.tum_sequence.read_tum_trajectory`), sorted by stamp.

    Raises:
        ValueError: on a malformed line.
    """
    stamps_s, poses = read_tum_trajectory(Path(path))
    stamps = np.array([seconds_to_ns(t) for t in stamps_s], dtype=np.int64)
    order = np.argsort(stamps)
    return GroundTruthTrajectory(stamps[order], poses.reshape(-1, 4, 4)[order], f"TUM file {path}")


def trajectory_from_bag(bag: Path, topic: str, child_frame: str | None = None) -> GroundTruthTrajectory:
    """Ground-truth poses from a ``nav_msgs/msg/Odometry`` topic, or from a ``tf2_msgs/msg/TFMessage`` topic (the
    transforms whose ``child_frame_id`` is ``child_frame``), read with rosbags.

    Raises:
        ValueError: unknown topic, unsupported type, or a TF topic without ``child_frame``.
        ss3d_core.io.bag_errors.BagReadError: the bag cannot be opened or read.
    """
    from rosbags.highlevel import AnyReader

    stamps, poses = [], []
    with reading_bag(bag), AnyReader([Path(bag)]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise ValueError(f"{bag}: no topic {topic}")
        msgtype = connections[0].msgtype
        if msgtype == "tf2_msgs/msg/TFMessage" and not child_frame:
            raise ValueError("a TF ground-truth topic needs --gt-frame (the child frame of the camera pose)")
        if msgtype not in ("nav_msgs/msg/Odometry", "tf2_msgs/msg/TFMessage"):
            raise ValueError(f"{topic} is {msgtype}; expected nav_msgs/msg/Odometry or tf2_msgs/msg/TFMessage")
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            if msgtype == "nav_msgs/msg/Odometry":
                p, q = msg.pose.pose.position, msg.pose.pose.orientation
                stamps.append(stamp_to_ns(msg.header.stamp))
                poses.append(pose_from_quaternion_translation([q.x, q.y, q.z, q.w], [p.x, p.y, p.z]))
                continue
            for tf in msg.transforms:
                if tf.child_frame_id == child_frame:
                    t, q = tf.transform.translation, tf.transform.rotation
                    stamps.append(stamp_to_ns(tf.header.stamp))
                    poses.append(pose_from_quaternion_translation([q.x, q.y, q.z, q.w], [t.x, t.y, t.z]))
    order = np.argsort(stamps)
    return GroundTruthTrajectory(np.array(stamps, dtype=np.int64)[order], np.array(poses).reshape(-1, 4, 4)[order],
                                 f"bag topic {topic}")


def depth_from_bag(bag: Path, topic: str) -> dict[int, np.ndarray]:
    """``{stamp_ns: H×W float32 metres, NaN invalid}`` of a depth image topic (REP 118 encodings).

    Raises:
        ValueError: unknown topic or a message that is not a REP 118 depth image.
        ss3d_core.io.bag_errors.BagReadError: the bag cannot be opened or read.
    """
    from rosbags.highlevel import AnyReader

    depth: dict[int, np.ndarray] = {}
    with reading_bag(bag), AnyReader([Path(bag)]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise ValueError(f"{bag}: no topic {topic}")
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            depth[stamp_to_ns(msg.header.stamp)] = image_msg_to_depth_m(msg)
    return depth
