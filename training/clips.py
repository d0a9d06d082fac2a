"""Index of a web-clip corpus folder (``clips.csv`` + one sub-folder per clip, see ``../shared/data/README.md``)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ss3d_core.io.image_folder import list_frames, read_rgb
from ss3d_core.io.video import iter_video_frames, video_fps

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


@dataclass(frozen=True)
class ClipSpec:
    """One row of ``clips.csv``.

    Attributes:
        name: clip folder name.
        kind: ``video`` (a video file in the folder), ``frames`` (a ``frames/`` image folder) or ``bag`` (a rosbag2,
            sqlite3 or MCAP, in a ``bag/`` folder; see :mod:`training.bag_frames`).
        label: human motion label (``translating``, ``static``, ``rotation``, ``dynamic``).
        consecutive: True when the frames are consecutive video frames (not a sparse photo set).
        folder: the clip folder.
        topic: image topic of a ``bag`` clip (the optional ``topic`` column); ``None`` picks the first
            ``sensor_msgs/Image`` topic with a camera encoding.
    """

    name: str
    kind: str
    label: str
    consecutive: bool
    folder: Path
    topic: str | None = None

    def video_path(self) -> Path:
        """The clip's video file; raises ``FileNotFoundError`` if there is none."""
        videos = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise FileNotFoundError(f"{self.folder}: no video file")
        return videos[0]

    def iter_frames(self, target_rate_hz: float) -> Iterator[np.ndarray]:
        """Yield ``H×W×3`` uint8 RGB frames; videos and bags are subsampled to about ``target_rate_hz``."""
        if self.kind == "video":
            path = self.video_path()
            stride = max(1, round(video_fps(path) / target_rate_hz))
            for _, rgb in iter_video_frames(path, stride=stride):
                yield rgb
        elif self.kind == "frames":
            for p in list_frames(self.folder / "frames"):
                yield read_rgb(p)
        elif self.kind == "bag":
            from training.bag_frames import iter_bag_frames  # reads ROS messages: only for bag clips

            yield from iter_bag_frames(self.folder / "bag", target_rate_hz, self.topic)
        else:
            raise ValueError(f"clip {self.name}: unknown kind {self.kind!r}")


def read_clip_index(root: str | Path) -> list[ClipSpec]:
    """Parse ``root/clips.csv`` into :class:`ClipSpec` rows (raises ``FileNotFoundError`` without it)."""
    root = Path(root)
    index = root / "clips.csv"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: a clip corpus needs a clips.csv (name,kind,label,consecutive)")
    with index.open(newline="") as f:
        return [
            ClipSpec(
                name=row["name"],
                kind=row["kind"],
                label=row["label"],
                consecutive=row["consecutive"].strip().lower() == "true",
                folder=root / row["name"],
                topic=(row.get("topic") or "").strip() or None,
            )
            for row in csv.DictReader(f)
        ]


def evenly_spaced_pairs(n_frames: int, n_pairs: int) -> list[int]:
    """Indices ``i`` of up to ``n_pairs`` evenly spaced consecutive pairs ``(i, i + 1)`` of an ``n_frames`` clip."""
    if n_frames < 2:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, n_frames - 2, num=min(n_pairs, n_frames - 1))})
