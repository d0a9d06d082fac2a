"""Forward Python ``logging`` records of the ROS-free core (``ss3d_core``) to a node's ROS logger.

The core logs with the standard library (backend fallbacks, engine cache builds and their reasons); inside the node
those lines must reach the ROS log (console, ``ROS_LOG_DIR``, ``/rosout``) like the node's own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CORE_LOGGER = "ss3d_core"


class RosLogHandler(logging.Handler):
    """A ``logging.Handler`` writing each record to an rclpy logger at the matching severity.

    Args:
        ros_logger: ``node.get_logger()``.
    """

    def __init__(self, ros_logger: Any):
        super().__init__()
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                self.ros_logger.error(message)
            elif record.levelno >= logging.WARNING:
                self.ros_logger.warning(message)
            elif record.levelno >= logging.INFO:
                self.ros_logger.info(message)
            else:
                self.ros_logger.debug(message)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


@contextmanager
def core_logs_to(ros_logger: Any, level: int = logging.INFO) -> Iterator[None]:
    """While the block runs, records of ``ss3d_core`` at ``level`` or above go to ``ros_logger`` (and only there)."""
    logger = logging.getLogger(CORE_LOGGER)
    handler = RosLogHandler(ros_logger)
    previous_level, previous_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        logger.propagate = previous_propagate
