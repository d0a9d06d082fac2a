"""Training frames straight from a robot's rosbag2 (sqlite3 or MCAP): one image topic, subsampled by header stamps.

The bag is read with rosbags (no ROS install, no ROS message packages); the topic is chosen as ``ss3d_replay`` chooses
it (:func:`ss3d_core.io.bag_images.choose_image_topic`: the given one, else the first ``sensor_msgs/Image`` topic with
a camera encoding, so depth topics are skipped) and each message is decoded as the node decodes it
(:func:`ss3d_core.io.image_message.image_msg_to_rgb8`: rgb8, bgr8, rgba8, bgra8, mono8, mono16, ``step`` honoured).
A message that does not decode is skipped and counted, never fatal: one corrupt frame should not stop a fine-tuning
run. A header stamp that goes backwards starts a new stretch (the next frame is kept whatever its spacing); the pair
that spans the jump is then unrelated frames, whose flow the SIFT check of :mod:`training.flow_verification` masks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader

from ss3d_core.io.bag_errors import reading_bag
from ss3d_core.io.bag_images import choose_image_topic
from ss3d_core.io.image_message import NANOSECONDS_PER_SECOND, ImageConversionError, image_msg_to_rgb8, stamp_to_ns

LOG = logging.getLogger(__name__)

# A frame is kept once this fraction of the target period has passed since the last kept one: camera stamps jitter,
# and a strict full-period rule would turn a 30 Hz stream into 7.5 Hz instead of 10 Hz (three 33.3 ms steps can sum
# to 99.9 ms).
KEEP_AFTER_PERIOD_FRACTION = 0.9


def iter_bag_frames(
    path: str | Path, target_rate_hz: float, topic: str | None = None, with_stamps: bool = False
) -> Iterator[np.ndarray] | Iterator[tuple[float, np.ndarray]]:
    """Yield the frames of one image topic of a rosbag2, subsampled to about ``target_rate_hz``.

    Args:
        path: rosbag2 folder (with ``metadata.yaml``) or file.
        target_rate_hz: wanted frame rate (> 0); frames are kept by their header stamps, not their count.
        topic: image topic; ``None`` picks the first ``sensor_msgs/Image`` topic with a camera encoding.
        with_stamps: yield ``(header stamp in seconds, rgb)`` instead of ``rgb``.

    Yields:
        ``H×W×3`` uint8 RGB frames in bag order (with their stamps when ``with_stamps``).

    Raises:
        ValueError: ``target_rate_hz <= 0``, or the bag has no usable image topic (``topic`` not an Image topic).
        ss3d_core.io.bag_errors.BagReadError: (a ``ValueError``) the bag cannot be opened, or is damaged where the
            reading reached (frames before that point have been yielded).
    """
    if not target_rate_hz > 0:
        raise ValueError(f"target_rate_hz must be > 0, got {target_rate_hz}")
    min_step_ns = KEEP_AFTER_PERIOD_FRACTION * NANOSECONDS_PER_SECOND / target_rate_hz
    last_kept: int | None = None
    skipped: dict[str, int] = {}
    backwards = 0
    with reading_bag(path), AnyReader([Path(path)]) as reader:
        chosen = choose_image_topic(reader, topic, path)
        connections = [c for c in reader.connections if c.topic == chosen]
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            stamp = stamp_to_ns(msg.header.stamp)
            if last_kept is not None and 0 <= stamp - last_kept < min_step_ns:
                continue
            backwards += last_kept is not None and stamp < last_kept
            try:
                rgb = image_msg_to_rgb8(msg)
            except ImageConversionError as err:
                skipped[err.reason] = skipped.get(err.reason, 0) + 1
                continue
            last_kept = stamp
            yield (stamp / NANOSECONDS_PER_SECOND, rgb) if with_stamps else rgb
    if skipped:
        LOG.warning("%s %s: skipped undecodable frames %s", path, chosen, skipped)
    if backwards:
        LOG.warning("%s %s: header stamp went backwards %d time(s); each starts a new stretch", path, chosen, backwards)
