"""Time stamps: integer nanoseconds since the epoch, the unit of every stamp the core and the node exchange.

The one home of the seconds/nanoseconds conversion (ROS ``builtin_interfaces/Time``, TUM timestamps in seconds,
video presentation times).
"""

from __future__ import annotations

__all__ = ["NANOSECONDS_PER_SECOND", "seconds_to_ns", "stamp_to_ns"]

NANOSECONDS_PER_SECOND = 1_000_000_000


def seconds_to_ns(seconds: float) -> int:
    """Seconds (a float, e.g. a TUM timestamp) -> integer nanoseconds, rounded to the nearest."""
    return int(round(float(seconds) * NANOSECONDS_PER_SECOND))


def stamp_to_ns(stamp) -> int:
    """``builtin_interfaces/Time`` (or any object with ``sec``, ``nanosec``) -> integer nanoseconds since the epoch."""
    return int(stamp.sec) * NANOSECONDS_PER_SECOND + int(stamp.nanosec)
