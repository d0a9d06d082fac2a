"""Camera images in a rosbag2 (sqlite3 or MCAP), read with rosbags: no ROS install needed.

The one rule for which topic of a bag is "the camera": the given topic, else the first ``sensor_msgs/msg/Image``
topic (by name) whose first message has a camera encoding (:data:`ss3d_core.io.image_message.SUPPORTED_ENCODINGS`),
so depth topics (REP 118 ``16UC1`` / ``32FC1``) are skipped. Replay (``ss3d_ros``) and training's bag clips both use
it, so both see the same frames.
"""

from __future__ import annotations

from ss3d_core.io.image_message import SUPPORTED_ENCODINGS

__all__ = ["IMAGE_TYPE", "choose_image_topic"]

IMAGE_TYPE = "sensor_msgs/msg/Image"


def choose_image_topic(reader, topic: str | None, path: object) -> str:
    """The camera topic of an open ``rosbags.highlevel.AnyReader`` (see the module docstring).

    Args:
        reader: an open ``AnyReader``.
        topic: the requested topic, or ``None`` to choose.
        path: the bag, for error messages.

    Raises:
        ValueError: when the bag has no such topic, or ``topic`` is not an Image topic.
    """
    topics = {c.topic: c.msgtype for c in reader.connections}
    if topic is not None:
        if topics.get(topic) != IMAGE_TYPE:
            raise ValueError(f"{path}: topic {topic} is not a {IMAGE_TYPE} topic (found {topics})")
        return topic
    for name in sorted(t for t, m in topics.items() if m == IMAGE_TYPE):
        connections = [c for c in reader.connections if c.topic == name]
        for connection, _, raw in reader.messages(connections=connections):
            if reader.deserialize(raw, connection.msgtype).encoding in SUPPORTED_ENCODINGS:
                return name
            break
    raise ValueError(f"{path}: no {IMAGE_TYPE} topic with a camera encoding {SUPPORTED_ENCODINGS} (found {topics})")
