"""The robot log a fine-tuning run starts from: a rosbag2 (sqlite3 or MCAP), its calibration, its hash, and a writer
that turns a TUM-layout sequence into such a bag (for tests and for the KITTI odometry check).

Everything here reads and writes bags with rosbags (no ROS install, no ROS message packages); images are decoded by
:func:`ss3d_core.io.bag_images.iter_bag_frames` exactly as the node decodes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from ss3d_core.camera import K_to_normalised
from ss3d_core.io.bag_errors import reading_bag
from ss3d_core.io.image_message import NANOSECONDS_PER_SECOND
from ss3d_core.io.tum_sequence import TumSequence

__all__ = ["CAMERA_INFO_TYPE", "CameraCalibration", "bag_sha256", "read_camera_info", "write_sequence_bag"]

CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
# Bytes read at a time when hashing a bag.
_HASH_CHUNK = 1 << 20
# rosbag2 metadata version written (9: Jazzy and later, which Kilted reads).
_BAG_VERSION = 9


@dataclass(frozen=True)
class CameraCalibration:
    """A bag's ``sensor_msgs/CameraInfo``: ``K`` 3×3 pixels at ``width×height`` (pixel-centre convention of
    :mod:`ss3d_core.camera`), and the topic it came from."""

    K: np.ndarray
    width: int
    height: int
    topic: str

    def normalised(self) -> list[float]:
        """``[fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H]`` (the network's intrinsics convention)."""
        return [float(x) for x in K_to_normalised(self.K, self.width, self.height)]


def bag_sha256(path: str | Path) -> str:
    """SHA-256 over a bag's files (relative name and content of every file, in name order), hex.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such bag")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path if path.is_dir() else path.parent)).encode() + b"\0")
        with file.open("rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def read_camera_info(path: str | Path, topic: str | None = None) -> CameraCalibration | None:
    """The first ``CameraInfo`` of ``topic`` (default: the first CameraInfo topic by name), or ``None`` when the bag
    has none (and no topic was asked for).

    Raises:
        ValueError: ``topic`` is given but is not a CameraInfo topic of the bag, or its K has no positive focal
            lengths (an uncalibrated camera publishes zeros).
        ss3d_core.io.bag_errors.BagReadError: the bag cannot be read.
    """
    with reading_bag(path), AnyReader([Path(path)]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        if topic is not None and topics.get(topic) != CAMERA_INFO_TYPE:
            raise ValueError(f"{path}: topic {topic} is not a {CAMERA_INFO_TYPE} topic (found {topics})")
        names = [topic] if topic else sorted(t for t, m in topics.items() if m == CAMERA_INFO_TYPE)
        for name in names:
            connections = [c for c in reader.connections if c.topic == name]
            for connection, _, raw in reader.messages(connections=connections):
                msg = reader.deserialize(raw, connection.msgtype)
                K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
                if not (np.all(np.isfinite(K)) and K[0, 0] > 0 and K[1, 1] > 0 and msg.width > 0 and msg.height > 0):
                    raise ValueError(f"{path}: {name} carries no calibration (K {K.tolist()}, "
                                     f"{msg.width}x{msg.height})")
                return CameraCalibration(K, int(msg.width), int(msg.height), name)
    return None


def write_sequence_bag(
    sequence: str | Path,
    out: str | Path,
    image_topic: str = "/camera/image_raw",
    info_topic: str = "/camera/camera_info",
    storage: str = "sqlite3",
    frame_id: str = "camera_optical_frame",
    max_frames: int | None = None,
) -> Path:
    """Write a TUM-layout sequence (``rgb.txt`` + ``calib.yaml``, :class:`ss3d_core.io.tum_sequence.TumSequence`) as
    a rosbag2: one ``sensor_msgs/Image`` per frame (``mono8`` when the three channels are equal, a grey camera, else
    ``rgb8``) stamped with the sequence's time, each preceded by the ``CameraInfo`` of ``calib.yaml`` (plumb_bob).
    Ground truth is not written into the bag: pass the sequence's ``groundtruth.txt`` (a TUM trajectory file) to
    the report, as ``ss3d_replay --groundtruth`` takes it.

    Args:
        sequence: the sequence folder.
        out: the bag folder to create (must not exist).
        image_topic, info_topic: topic names.
        storage: ``sqlite3`` or ``mcap``.
        frame_id: header frame id.
        max_frames: write only the first frames.

    Returns:
        ``out``.

    Raises:
        FileNotFoundError, ValueError: the sequence cannot be read, or ``storage`` is unknown.
        FileExistsError: ``out`` exists.
    """
    plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
    if storage not in plugins:
        raise ValueError(f"storage must be one of {sorted(plugins)}, got {storage!r}")
    seq = TumSequence.load(sequence)
    calib = seq.calibration
    typestore = get_typestore(Stores.ROS2_KILTED)
    types = typestore.types
    out = Path(out)
    n = len(seq.rgb) if max_frames is None else min(max_frames, len(seq.rgb))
    with Writer(out, version=_BAG_VERSION, storage_plugin=plugins[storage]) as writer:
        image_conn = writer.add_connection(image_topic, "sensor_msgs/msg/Image", typestore=typestore)
        info_conn = writer.add_connection(info_topic, CAMERA_INFO_TYPE, typestore=typestore)
        for i in range(n):
            stamp_ns = int(round(seq.rgb[i][0] * NANOSECONDS_PER_SECOND))
            sec, nanosec = divmod(stamp_ns, NANOSECONDS_PER_SECOND)
            header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                                  frame_id=frame_id)
            rgb = seq.read_rgb(i)
            grey = bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]))
            pixels = np.ascontiguousarray(rgb[..., 0] if grey else rgb)
            h, w = rgb.shape[:2]
            image = types["sensor_msgs/msg/Image"](header=header, height=h, width=w,
                                                   encoding="mono8" if grey else "rgb8", is_bigendian=0,
                                                   step=w * (1 if grey else 3), data=pixels.reshape(-1))
            distortion = np.array(calib.distortion or (0.0,) * 5, dtype=np.float64)
            P = np.zeros((3, 4))
            P[:, :3] = calib.K
            info = types[CAMERA_INFO_TYPE](
                header=header, height=calib.height, width=calib.width, distortion_model="plumb_bob", d=distortion,
                k=np.asarray(calib.K, dtype=np.float64).reshape(-1), r=np.eye(3).reshape(-1), p=P.reshape(-1),
                binning_x=0, binning_y=0,
                roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                              do_rectify=False))
            writer.write(info_conn, stamp_ns, typestore.serialize_cdr(info, CAMERA_INFO_TYPE))
            writer.write(image_conn, stamp_ns, typestore.serialize_cdr(image, "sensor_msgs/msg/Image"))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m training.finetune.bag_log --sequence DIR --out BAG [--storage mcap]``: write a TUM-layout sequence
    as a rosbag2 (:func:`write_sequence_bag`) and copy its ``groundtruth.txt``, if any, to ``BAG_groundtruth.txt``."""
    import argparse
    import shutil

    parser = argparse.ArgumentParser(prog="python -m training.finetune.bag_log", description=main.__doc__)
    parser.add_argument("--sequence", required=True, type=Path, help="TUM-layout sequence (rgb.txt + calib.yaml)")
    parser.add_argument("--out", required=True, type=Path, help="bag folder to create")
    parser.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"))
    args = parser.parse_args(argv)
    write_sequence_bag(args.sequence, args.out, storage=args.storage)
    if (args.sequence / "groundtruth.txt").is_file():
        shutil.copyfile(args.sequence / "groundtruth.txt", f"{args.out}_groundtruth.txt")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
