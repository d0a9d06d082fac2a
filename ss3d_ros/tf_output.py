"""Optional TF output: ``tf2_ros`` is standard on ROS installs but not pip-installable, so it is imported lazily."""

from __future__ import annotations

from typing import Any


class TfOutput:
    """Broadcasts transforms when ``tf2_ros`` is importable; otherwise logs once and does nothing.

    Args:
        node: the rclpy node that owns the broadcaster (and its logger).
    """

    def __init__(self, node: Any):
        self._broadcaster = None
        try:
            from tf2_ros import TransformBroadcaster
        except ImportError:
            node.get_logger().info(
                "tf2_ros is not importable (pip-installed ROS has no tf2_ros): the odom -> camera transform is not "
                "broadcast; the same pose is on the 'odom' topic"
            )
            return
        self._broadcaster = TransformBroadcaster(node)

    @property
    def available(self) -> bool:
        """True when transforms are actually broadcast."""
        return self._broadcaster is not None

    def send(self, transform: Any) -> None:
        """Broadcast a ``geometry_msgs/TransformStamped`` (no-op without tf2_ros)."""
        if self._broadcaster is not None:
            self._broadcaster.sendTransform(transform)
