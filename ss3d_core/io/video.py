"""Video decoding with PyAV."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ss3d_core.io.stamps import seconds_to_ns


def video_fps(path: str | Path) -> float:
    """Average frame rate of the first video stream in frames per second.

    Raises:
        ValueError: if the file has no video stream or no usable rate.
    """
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        rate = container.streams.video[0].average_rate
        if not rate:
            raise ValueError(f"{path}: video stream has no average frame rate")
        return float(rate)


def iter_video_frames(
    path: str | Path, stride: int = 1, max_frames: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(stamp_ns, rgb)`` for every ``stride``-th decoded frame.

    Args:
        path: video file readable by FFmpeg.
        stride: keep one frame in ``stride`` (>= 1).
        max_frames: stop after this many yielded frames (``None``: all).

    Yields:
        ``stamp_ns``: presentation time in nanoseconds from the stream start (int); ``rgb``: ``H×W×3`` uint8 RGB.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    yielded = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            if index % stride:
                continue
            if frame.pts is not None:
                seconds = float(frame.pts * stream.time_base)
            else:
                seconds = index / float(stream.average_rate)
            yield seconds_to_ns(seconds), frame.to_ndarray(format="rgb24")
            yielded += 1
            if max_frames is not None and yielded >= max_frames:
                return
