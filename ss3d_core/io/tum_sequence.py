"""Sequences in the TUM RGB-D layout plus ``calib.yaml`` (see ``../shared/data/README.md``).

A sequence folder holds ``rgb.txt`` (``<timestamp_s> <relative path>`` lines, ``#`` comments), optional
``depth.txt`` (uint16 PNGs, ``value / depth_scale`` = metres, 0 = invalid), optional ``groundtruth.txt``
(``<timestamp_s> tx ty tz qx qy qz qw``, pose ``T_world_camera`` of the optical frame) and ``calib.yaml``
(``width``, ``height``, ``fx``, ``fy``, ``cx``, ``cy`` in pixels; optional ``distortion_model``/``distortion``,
``depth_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from ss3d_core.io.image_folder import read_rgb
from ss3d_core.pose import pose_from_quaternion_translation

# Sturm et al. 2012 (TUM RGB-D): association tolerance between image and ground-truth timestamps.
DEFAULT_MAX_TIME_DIFF_S = 0.02


@dataclass(frozen=True)
class Calibration:
    """Pinhole calibration in pixels at ``width×height``; ``distortion`` is plumb_bob ``[k1, k2, t1, t2, k3]``."""

    width: int
    height: int
    K: np.ndarray
    distortion_model: str = ""
    distortion: tuple[float, ...] = ()
    depth_scale: float | None = None

    @classmethod
    def from_yaml(cls, path: Path) -> Calibration:
        """Parse ``calib.yaml``; raises ``ValueError`` naming the missing key, or when the file is no YAML mapping."""
        data = _load_yaml_mapping(path)
        missing = [k for k in ("width", "height", "fx", "fy", "cx", "cy") if k not in data]
        if missing:
            raise ValueError(f"{path}: missing keys {missing}")
        K = np.array([[data["fx"], 0.0, data["cx"]], [0.0, data["fy"], data["cy"]], [0.0, 0.0, 1.0]])
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            K=K,
            distortion_model=str(data.get("distortion_model", "")),
            distortion=tuple(float(x) for x in data.get("distortion", ())),
            depth_scale=float(data["depth_scale"]) if "depth_scale" in data else None,
        )


def _load_yaml_mapping(path: Path) -> dict[str, object]:
    """``path`` parsed as a YAML mapping; ``ValueError`` naming the file when it is not one."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping of calibration keys, got {type(data).__name__}")
    return data


def _read_list(path: Path) -> list[tuple[float, str]]:
    entries = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            stamp = float(parts[0])
        except ValueError:
            stamp = None
        if len(parts) < 2 or stamp is None:
            raise ValueError(f"{path}:{line_no}: expected '<timestamp> <file>', got {line!r}")
        entries.append((stamp, parts[1]))
    return entries


def read_tum_trajectory(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory file: ``timestamp tx ty tz qx qy qz qw`` lines (seconds, metres; ``#`` comments).

    Returns:
        ``N`` timestamps in seconds (file order) and the ``N×4×4`` poses (``T_world_camera`` for TUM ground truth).

    Raises:
        ValueError: on a malformed line (file and line number in the message).
    """
    stamps, poses = [], []
    for line_no, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        values = line.split()
        if len(values) != 8:
            raise ValueError(f"{path}:{line_no}: expected 8 values 't tx ty tz qx qy qz qw'")
        t, tx, ty, tz, qx, qy, qz, qw = (float(x) for x in values)
        stamps.append(t)
        poses.append(pose_from_quaternion_translation([qx, qy, qz, qw], [tx, ty, tz]))
    return np.array(stamps), np.array(poses).reshape(-1, 4, 4)


@dataclass
class TumSequence:
    """One sequence folder. Frames are in ``rgb.txt`` order.

    Attributes:
        root: the folder.
        name: folder name.
        rgb: ``(timestamp_s, relative path)`` per frame.
        depth: ``(timestamp_s, relative path)`` per depth image (empty without ``depth.txt``).
        gt_stamps: ``N`` ground-truth timestamps in seconds (empty without ``groundtruth.txt``).
        gt_poses: ``N×4×4`` ``T_world_camera`` (metres).
        calibration: the parsed ``calib.yaml``.
    """

    root: Path
    name: str
    rgb: list[tuple[float, str]]
    depth: list[tuple[float, str]]
    gt_stamps: np.ndarray
    gt_poses: np.ndarray
    calibration: Calibration
    metadata: dict[str, object] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | Path) -> TumSequence:
        """Read a sequence folder.

        Raises:
            FileNotFoundError: without ``rgb.txt`` or ``calib.yaml``.
            ValueError: on malformed files (the message names the file).
        """
        root = Path(root)
        for required in ("rgb.txt", "calib.yaml"):
            if not (root / required).is_file():
                raise FileNotFoundError(f"{root} is not a TUM-layout sequence: {required} missing")
        gt_stamps, gt_poses = np.zeros(0), np.zeros((0, 4, 4))
        if (root / "groundtruth.txt").is_file():
            gt_stamps, gt_poses = read_tum_trajectory(root / "groundtruth.txt")
        raw = _load_yaml_mapping(root / "calib.yaml")
        return cls(
            root=root,
            name=root.name,
            rgb=_read_list(root / "rgb.txt"),
            depth=_read_list(root / "depth.txt") if (root / "depth.txt").is_file() else [],
            gt_stamps=gt_stamps,
            gt_poses=gt_poses,
            calibration=Calibration.from_yaml(root / "calib.yaml"),
            metadata={k: raw[k] for k in ("source", "licence", "note", "group") if k in raw},
        )

    def read_rgb(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``H×W×3`` uint8 RGB; ``ValueError`` when the file is missing or cannot be decoded
        (a truncated PNG, say)."""
        return read_rgb(self.root / self.rgb[index][1])

    def read_depth_m(self, depth_index: int) -> np.ndarray:
        """Depth image ``depth_index`` in metres, ``H×W`` float32, NaN where invalid (raw value 0).

        Raises:
            ValueError: if ``calib.yaml`` has no ``depth_scale``, the file cannot be decoded, or it is not
                single-channel 16-bit (an 8-bit depth PNG has lost the range that ``depth_scale`` maps to metres).
        """
        if self.calibration.depth_scale is None:
            raise ValueError(f"{self.root}/calib.yaml has no depth_scale")
        path = self.root / self.depth[depth_index][1]
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise ValueError(f"cannot decode depth image {path}")
        if raw.dtype != np.uint16 or raw.ndim != 2:
            channels = 1 if raw.ndim == 2 else raw.shape[2]
            raise ValueError(f"depth image {path} is {raw.dtype} with {channels} channel(s); expected single-channel "
                             "16-bit (value / depth_scale = metres): an 8-bit depth image has lost its range")
        depth = raw.astype(np.float32) / self.calibration.depth_scale
        depth[raw == 0] = np.nan
        return depth

    def depth_index_for_frame(self, index: int, max_diff_s: float = DEFAULT_MAX_TIME_DIFF_S) -> int | None:
        """Index into :attr:`depth` of the depth image nearest in time to frame ``index`` (within ``max_diff_s``)."""
        return _nearest(np.array([t for t, _ in self.depth]), self.rgb[index][0], max_diff_s)

    def gt_pose_for_frame(self, index: int, max_diff_s: float = DEFAULT_MAX_TIME_DIFF_S) -> np.ndarray | None:
        """``T_world_camera`` (4×4, metres) nearest in time to frame ``index`` within ``max_diff_s``, else ``None``."""
        i = _nearest(self.gt_stamps, self.rgb[index][0], max_diff_s)
        return None if i is None else self.gt_poses[i]


def _nearest(stamps: np.ndarray, t: float, max_diff_s: float) -> int | None:
    if stamps.size == 0:
        return None
    i = int(np.argmin(np.abs(stamps - t)))
    return i if abs(stamps[i] - t) <= max_diff_s else None


def find_sequences(paths: list[str | Path]) -> list[Path]:
    """Expand each path to sequence folders: the path itself if it holds ``rgb.txt``, else its sub-folders that do.

    Raises:
        FileNotFoundError: if a path yields no sequence.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "rgb.txt").is_file():
            found.append(p)
            continue
        children = sorted(c for c in p.iterdir() if (c / "rgb.txt").is_file()) if p.is_dir() else []
        if not children:
            raise FileNotFoundError(f"{p}: neither a TUM-layout sequence nor a folder of sequences")
        found.extend(children)
    return found
