"""Camera frames to replay into the node: a video file, a TUM-layout sequence or a rosbag2 image topic."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from ss3d_core.io.bag_errors import reading_bag
from ss3d_core.io.bag_images import choose_image_topic
from ss3d_core.io.stamps import NANOSECONDS_PER_SECOND, seconds_to_ns
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_core.io.video import iter_video_frames, video_fps
from ss3d_ros.conversions import (
    image_msg_to_rgb8,
    ns_to_stamp,
    rgb8_to_image_msg,
    stamp_to_ns,
)

# Width of the RGB previews kept for contact sheets (pixels).
PREVIEW_WIDTH = 320


@dataclass(frozen=True)
class PlaybackFrame:
    """One frame to publish.

    Attributes:
        stamp_ns: header stamp, nanoseconds.
        message: an rclpy ``sensor_msgs/Image`` or its CDR serialisation (bags are replayed byte for byte).
        preview: small ``h×w×3`` uint8 RGB copy for figures.
    """

    stamp_ns: int
    message: Image | bytes
    preview: np.ndarray


def _preview(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = PREVIEW_WIDTH / w
    return cv2.resize(rgb, (PREVIEW_WIDTH, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _header(stamp_ns: int, frame_id: str) -> Header:
    header = Header()
    header.stamp = ns_to_stamp(stamp_ns)
    header.frame_id = frame_id
    return header


@dataclass(frozen=True)
class VideoSource:
    """Frames of a video file, stamped ``start_ns + presentation time`` (``start_ns`` defaults to now)."""

    path: Path
    frame_id: str = "camera_optical_frame"
    max_frames: int | None = None

    def nominal_rate_hz(self) -> float:
        """The video's frame rate."""
        return video_fps(self.path)

    def frames(self) -> Iterator[PlaybackFrame]:
        start_ns = time.time_ns()
        for pts_ns, rgb in iter_video_frames(self.path, max_frames=self.max_frames):
            stamp = start_ns + pts_ns
            yield PlaybackFrame(stamp, rgb8_to_image_msg(rgb, _header(stamp, self.frame_id)), _preview(rgb))


@dataclass(frozen=True)
class SequenceSource:
    """Frames of a TUM-layout sequence with their recorded timestamps."""

    path: Path
    frame_id: str = "camera_optical_frame"
    max_frames: int | None = None

    def nominal_rate_hz(self) -> float:
        """Median frame rate from ``rgb.txt`` stamps (1 Hz for a single frame)."""
        stamps = np.array([t for t, _ in TumSequence.load(self.path).rgb])
        return float(1.0 / np.median(np.diff(stamps))) if stamps.size > 1 else 1.0

    def frames(self) -> Iterator[PlaybackFrame]:
        sequence = TumSequence.load(self.path)
        count = len(sequence.rgb) if self.max_frames is None else min(self.max_frames, len(sequence.rgb))
        for i in range(count):
            rgb = sequence.read_rgb(i)
            stamp = seconds_to_ns(sequence.rgb[i][0])
            yield PlaybackFrame(stamp, rgb8_to_image_msg(rgb, _header(stamp, self.frame_id)), _preview(rgb))


@dataclass(frozen=True)
class BagSource:
    """Image messages of one topic of a rosbag2 (sqlite3 or MCAP), read with rosbags and replayed as recorded.

    Every method raises :class:`ss3d_core.io.bag_errors.BagReadError` (a ``ValueError``) when the bag cannot be
    opened or read; :meth:`frames` raises it where the damage is met, after the frames before it.

    Attributes:
        path: bag folder (or file).
        topic: image topic; ``None`` picks the first ``sensor_msgs/msg/Image`` topic.
    """

    path: Path
    topic: str | None = None
    max_frames: int | None = None

    def _reader(self):  # noqa: ANN202 - rosbags type
        from rosbags.highlevel import AnyReader

        return AnyReader([Path(self.path)])

    def image_topic(self) -> str:
        """The topic replayed (:func:`ss3d_core.io.bag_images.choose_image_topic`: ``topic``, or the first Image
        topic whose first message has a camera encoding the node accepts).

        Raises:
            ValueError: when the bag has no such topic, or ``topic`` is not an Image topic.
            BagReadError: the bag cannot be opened or read.
        """
        with reading_bag(self.path), self._reader() as reader:
            return choose_image_topic(reader, self.topic, self.path)

    def first_camera_info(self, topic: str | None = None) -> bytes | None:
        """The first ``sensor_msgs/msg/CameraInfo`` of ``topic`` (default: the only CameraInfo topic), serialised."""
        with reading_bag(self.path), self._reader() as reader:
            infos = [c for c in reader.connections if c.msgtype == "sensor_msgs/msg/CameraInfo"
                     and (topic is None or c.topic == topic)]
            if not infos:
                return None
            for _, _, raw in reader.messages(connections=infos[:1]):
                return bytes(raw)
        return None

    def nominal_rate_hz(self) -> float:
        """Median message rate of the topic from header stamps."""
        stamps = [f.stamp_ns for f in self.frames()]
        return float(NANOSECONDS_PER_SECOND / np.median(np.diff(stamps))) if len(stamps) > 1 else 1.0

    def frames(self) -> Iterator[PlaybackFrame]:
        topic = self.image_topic()
        with reading_bag(self.path), self._reader() as reader:
            connections = [c for c in reader.connections if c.topic == topic]
            for count, (connection, _, raw) in enumerate(reader.messages(connections=connections)):
                if self.max_frames is not None and count >= self.max_frames:
                    return
                msg = reader.deserialize(raw, connection.msgtype)
                stamp = stamp_to_ns(msg.header.stamp)
                try:
                    preview = _preview(image_msg_to_rgb8(msg))
                except ValueError:
                    preview = np.zeros((1, PREVIEW_WIDTH, 3), np.uint8)  # the node will count this frame as a drop
                yield PlaybackFrame(stamp, bytes(raw), preview)


def open_source(video: str | None, sequence: str | None, bag: str | None, topic: str | None,
                max_frames: int | None) -> VideoSource | SequenceSource | BagSource:
    """Build the one source named on the command line (exactly one of video/sequence/bag)."""
    given = [x for x in (video, sequence, bag) if x]
    if len(given) != 1:
        raise ValueError("give exactly one of --video, --sequence, --bag")
    if video:
        return VideoSource(Path(video), max_frames=max_frames)
    if sequence:
        return SequenceSource(Path(sequence), max_frames=max_frames)
    return BagSource(Path(bag), topic=topic, max_frames=max_frames)
