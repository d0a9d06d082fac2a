"""Publish :class:`~ss3d_ros.tools.frame_sources.PlaybackFrame` s at the recorded rate, or lock-step with the node."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ss3d_ros.tools.frame_sources import PlaybackFrame

# Lock-step mode: how long to wait for the node's output of one frame before moving on (seconds).
LOCKSTEP_TIMEOUT_S = 10.0


def play(
    frames: Iterable[PlaybackFrame],
    publish: Callable[[PlaybackFrame], None],
    rate: float | None,
    output_arrived: Callable[[int], bool] | None = None,
    on_published: Callable[[PlaybackFrame, float], None] | None = None,
) -> int:
    """Publish every frame; returns how many were published.

    Args:
        frames: frames in stamp order.
        publish: sends one frame (e.g. ``publisher.publish(frame.message)``).
        rate: playback speed relative to the recorded stamps (1.0 = real time); ``None`` = lock-step: publish the
            next frame once ``output_arrived(stamp_ns)`` is true for the previous one (as fast as the node keeps up,
            with no drops), or after ``LOCKSTEP_TIMEOUT_S``.
        output_arrived: required with ``rate=None``.
        on_published: called with ``(frame, monotonic publish time)`` after each publish.

    Raises:
        ValueError: lock-step without ``output_arrived``, or a non-positive rate.
    """
    if rate is None and output_arrived is None:
        raise ValueError("lock-step playback needs output_arrived")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    count = 0
    first_stamp = start = None
    for frame in frames:
        if rate is not None:
            if first_stamp is None:
                first_stamp, start = frame.stamp_ns, time.monotonic()
            due = start + (frame.stamp_ns - first_stamp) * 1e-9 / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        published_at = time.monotonic()
        publish(frame)
        count += 1
        if on_published is not None:
            on_published(frame, published_at)
        if rate is None:
            deadline = time.monotonic() + LOCKSTEP_TIMEOUT_S
            while not output_arrived(frame.stamp_ns) and time.monotonic() < deadline:
                time.sleep(0.002)
    return count
