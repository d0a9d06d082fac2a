"""Bad-input matrix, rosbag2 side: a damaged bag is one clear line and exit status 2 for ``ss3d_replay`` and
``ss3d_demo``; damage met mid-playback stops playback, stops the node and still writes the report of what played.

The bags are written here from the real TUM frames of ``test/fixtures`` and then damaged the ways users meet:
truncated by a full disk, a zeroed header, garbage ``metadata.yaml``, a corrupt page in the middle.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import pytest
from conftest import FIXTURES
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from std_msgs.msg import Header

from ss3d_core.calibration import cli as calibrate_cli
from ss3d_core.io.bag_errors import BagReadError
from ss3d_core.io.ground_truth import trajectory_from_bag
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_ros.conversions import ns_to_stamp, rgb8_to_image_msg
from ss3d_ros.tools import demo, replay
from ss3d_ros.tools.frame_sources import BagSource

N_FRAMES = 12
FRAME_SIZE = (160, 120)
BASE_NS = 1_700_000_000_000_000_000
PERIOD_NS = 50_000_000
SQLITE_PAGE = 4096


@pytest.fixture()
def image_bag(tmp_path) -> Path:
    """A sqlite3 rosbag2 of 12 real TUM frames (rgb8, 160×120) at 20 Hz."""
    sequence = TumSequence.load(FIXTURES / "tum_fr1_xyz_pair1")
    frames = [cv2.resize(sequence.read_rgb(i), FRAME_SIZE, interpolation=cv2.INTER_AREA) for i in range(2)]
    path = tmp_path / "bag"
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        connection = writer.add_connection("/camera/rgb", "sensor_msgs/msg/Image",
                                           typestore=get_typestore(Stores.ROS2_KILTED))
        for i in range(N_FRAMES):
            stamp = BASE_NS + i * PERIOD_NS
            header = Header(frame_id="camera_rgb_optical_frame")
            header.stamp = ns_to_stamp(stamp)
            writer.write(connection, stamp, serialize_message(rgb8_to_image_msg(frames[i % 2], header)))
    return path


def _db3(bag: Path) -> Path:
    return next(bag.glob("*.db3"))


def _truncate(bag: Path) -> None:
    data = _db3(bag).read_bytes()
    _db3(bag).write_bytes(data[: len(data) // 2])


def _zero_header(bag: Path) -> None:
    data = _db3(bag).read_bytes()
    _db3(bag).write_bytes(bytes(SQLITE_PAGE) + data[SQLITE_PAGE:])


def _garbage_metadata(bag: Path) -> None:
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {{ [not yaml\n")


def _remove(bag: Path) -> None:
    shutil.rmtree(bag)


def _corrupt_middle(bag: Path) -> None:
    """Overwrite eight pages at 70 % of the file: the bag opens, the first frames read, then sqlite meets them."""
    data = bytearray(_db3(bag).read_bytes())
    start = int(len(data) * 0.7) // SQLITE_PAGE * SQLITE_PAGE
    data[start : start + 8 * SQLITE_PAGE] = b"\xff" * (8 * SQLITE_PAGE)
    _db3(bag).write_bytes(bytes(data))


DAMAGE = {"truncated": _truncate, "zeroed_header": _zero_header, "garbage_metadata": _garbage_metadata,
          "missing": _remove}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_bag_is_one_line_and_exit_2(image_bag, tmp_path, caplog, capsys, damage):
    DAMAGE[damage](image_bag)
    with pytest.raises(BagReadError, match=f"cannot read bag {image_bag}: "):
        BagSource(image_bag).image_topic()
    with pytest.raises(BagReadError):
        trajectory_from_bag(image_bag, "/mocap/odom")
    for tool in (replay, demo):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert tool.main(["--bag", str(image_bag), "--out", str(tmp_path / "out")]) == 2
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and errors[0].exc_info is None, caplog.text
        message = errors[0].getMessage()
        assert str(image_bag) in message and "\n" not in message, message
    # ss3d_calibrate: exit 2, one line on stderr naming the bag, nothing written.
    capsys.readouterr()
    assert calibrate_cli.main(["--bag", str(image_bag), "--output", str(tmp_path / "camera.yaml")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(image_bag) in lines[0], lines
    assert not (tmp_path / "camera.yaml").exists()


def test_bag_damaged_mid_file_stops_playback_and_still_reports(image_bag, tmp_path, tiny_checkpoint):
    _corrupt_middle(image_bag)
    readable = 0
    with pytest.raises(BagReadError, match="CorruptError"):
        for _ in BagSource(image_bag).frames():
            readable += 1
    assert 0 < readable < N_FRAMES
    out = tmp_path / "replay"
    status = replay.main(["--bag", str(image_bag), "--out", str(out), "--lockstep", "--checkpoint",
                          str(tiny_checkpoint), "--backend", "torch"])
    assert status == 2
    report = json.loads((out / "report.json").read_text())
    stream = report["stream"]
    assert "CorruptError" in stream["playback_error"] and str(image_bag) in stream["playback_error"]
    assert stream["frames_published"] == readable and stream["messages_received"]["depth"] == readable
    assert "Playback stopped early" in (out / "report.md").read_text()
