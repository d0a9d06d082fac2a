"""Ground truth of a replayed log, read without ROS: a TUM trajectory file, an odometry or TF topic, a depth topic.

Moved here from ``ss3d_ros.replay_scoring`` (which re-exports it) so that ``ss3d_replay`` and training's fine-tuning
report (``training.finetune``, which never imports the node package) read ground truth the same way. Poses are
``T_world_camera`` of the camera optical frame (REP 103), metres; stamps integer nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import transforms3d

from ss3d_core.io.bag_errors import reading_bag
from ss3d_core.io.image_message import image_msg_to_depth_m
from ss3d_core.io.tum_sequence import DEFAULT_MAX_TIME_DIFF_S

__all__ = ["NS_PER_S", "GroundTruthTrajectory", "depth_from_bag", "trajectory_from_bag", "trajectory_from_tum_file"]

NS_PER_S = 1_000_000_000


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
        return self.poses[i] if abs(int(self.stamps_ns[i]) - stamp_ns) <= max_diff_s * NS_PER_S else None


def _pose(tx: float, ty: float, tz: float, qx: float, qy: float, qz: float, qw: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = transforms3d.quaternions.quat2mat([qw, qx, qy, qz])
    T[:3, 3] = [tx, ty, tz]
    return T


def trajectory_from_tum_file(path: Path) -> GroundTruthTrajectory:
    """Read ``timestamp tx ty tz qx qy qz qw`` lines (seconds, metres; ``#`` comments).

    Raises:
        ValueError: on a malformed line.
    """
    stamps, poses = [], []
    for line_no, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        values = line.split()
        if len(values) != 8:
            raise ValueError(f"{path}:{line_no}: expected 8 values 't tx ty tz qx qy qz qw'")
        stamps.append(int(round(float(values[0]) * NS_PER_S)))
        poses.append(_pose(*map(float, values[1:])))
    order = np.argsort(stamps)
    return GroundTruthTrajectory(np.array(stamps, dtype=np.int64)[order], np.array(poses).reshape(-1, 4, 4)[order],
                                 f"TUM file {path}")


def _stamp_ns(stamp: object) -> int:
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


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
                stamps.append(_stamp_ns(msg.header.stamp))
                poses.append(_pose(p.x, p.y, p.z, q.x, q.y, q.z, q.w))
                continue
            for tf in msg.transforms:
                if tf.child_frame_id == child_frame:
                    t, q = tf.transform.translation, tf.transform.rotation
                    stamps.append(_stamp_ns(tf.header.stamp))
                    poses.append(_pose(t.x, t.y, t.z, q.x, q.y, q.z, q.w))
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
            depth[_stamp_ns(msg.header.stamp)] = image_msg_to_depth_m(msg)
    return depth
