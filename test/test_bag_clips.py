"""Training clips read straight from a rosbag2 (ss3d_core.io.bag_images.iter_bag_frames, clips.csv kind ``bag``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from std_msgs.msg import Header

from ss3d_core.io.bag_images import iter_bag_frames
from ss3d_ros.conversions import depth_to_image_msg, ns_to_stamp, rgb8_to_image_msg
from training.data.clips import read_clip_index
from training.fit.datamodule import ClipDataModule

CAMERA_PERIOD_NS = 33_333_333  # a 30 Hz camera


def _frames(sample_frames, n):
    """``n`` real 96×64 frames: the dashcam frames, shifted a few pixels each so that consecutive frames differ."""
    base = [cv2.resize(f, (96, 64), interpolation=cv2.INTER_AREA) for f in sample_frames]
    return [np.roll(base[i % len(base)], 2 * i, axis=1) for i in range(n)]


def _write_bag(path, frames, stamps_ns, encoding="bgr8"):
    """A sqlite3 rosbag2 with the frames on /cam/image (as ``encoding``, header stamps ``stamps_ns``, recorded 10 ms
    apart in bag time) and a 16UC1 depth topic that sorts first."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        image = writer.add_connection("/cam/image", "sensor_msgs/msg/Image", typestore=typestore)
        depth = writer.add_connection("/cam/depth", "sensor_msgs/msg/Image", typestore=typestore)
        for k, (rgb, stamp) in enumerate(zip(frames, stamps_ns)):
            received = 10_000_000 * k
            header = Header(frame_id="camera")
            header.stamp = ns_to_stamp(stamp)
            msg = rgb8_to_image_msg(rgb, header, encoding=encoding, row_padding=4)
            writer.write(image, received, serialize_message(msg))
            writer.write(depth, received, serialize_message(depth_to_image_msg(np.ones((64, 96), np.float32), header,
                                                                            "16UC1")))


def test_frames_come_from_the_camera_topic_subsampled_by_stamp(tmp_path, sample_frames):
    frames = _frames(sample_frames, 10)
    _write_bag(tmp_path / "bag", frames, [i * CAMERA_PERIOD_NS for i in range(10)])
    got = list(iter_bag_frames(tmp_path / "bag", target_rate_hz=10.0))
    # 30 Hz -> every third frame (0, 100, 200, 300 ms), decoded from bgr8 with row padding exactly.
    assert len(got) == 4
    for out, i in zip(got, (0, 3, 6, 9)):
        assert np.array_equal(out, frames[i])
    assert len(list(iter_bag_frames(tmp_path / "bag", target_rate_hz=100.0))) == 10
    with pytest.raises(ValueError, match="not a sensor_msgs/msg/Image topic"):
        list(iter_bag_frames(tmp_path / "bag", 10.0, topic="/nope"))
    with pytest.raises(ValueError, match="target_rate_hz"):
        list(iter_bag_frames(tmp_path / "bag", 0.0))


def test_a_stamp_that_goes_back_starts_a_new_stretch(tmp_path, sample_frames):
    frames = _frames(sample_frames, 6)
    stamps = [0, 100_000_000, 200_000_000, 50_000_000, 60_000_000, 150_000_000]  # a log restarted at 50 ms
    _write_bag(tmp_path / "bag", frames, stamps)
    got = list(iter_bag_frames(tmp_path / "bag", target_rate_hz=10.0))
    assert [next(i for i, f in enumerate(frames) if np.array_equal(f, g)) for g in got] == [0, 1, 2, 3, 5]


def test_a_bag_clip_trains_like_any_other(tmp_path, sample_frames):
    corpus = tmp_path / "corpus"
    frames = _frames(sample_frames, 9)
    _write_bag(corpus / "robot_log" / "bag", frames, [i * 50_000_000 for i in range(9)])  # 20 Hz
    (corpus / "clips.csv").write_text(
        "name,kind,label,consecutive,licence,topic\nrobot_log,bag,translating,True,own,/cam/image\n"
    )
    (spec,) = read_clip_index(corpus)
    assert spec.kind == "bag" and spec.topic == "/cam/image"
    data = ClipDataModule(root=str(corpus), height=64, width=96, target_rate_hz=10.0, val_fraction=0.0,
                          cache_dir=str(tmp_path / "cache"))
    data.setup()
    (clip,) = data.clips
    assert clip.frames.shape == (5, 64, 96, 3) and clip.flow_forward.shape == (4, 64, 96, 2)
    assert np.array_equal(clip.frames[1], frames[2])
