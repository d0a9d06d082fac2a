"""Clip index over any source: video files, frame folders, rosbag2 logs (sqlite3/MCAP) and TUM-layout sequences.

A corpus folder either has a ``clips.csv`` (columns ``name,kind`` and optionally ``label,consecutive,licence,topic``;
see ``../shared/data/README.md``) or none, in which case every sub-folder that holds a clip is indexed with its kind
detected from its content (:func:`detect_kind`), and a folder that is itself a clip (a robot log handed over as it
is) is indexed as one clip. The ``label`` column is a human's motion label: training selects clips by their
multi-view-signal score (:mod:`training.corpus.mvs`), and the label only serves to measure that score.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ss3d_core.io.image_folder import IMAGE_SUFFIXES, list_frames, read_rgb

LOG = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
KINDS = ("video", "frames", "bag", "tum")
BAG_STORAGE_SUFFIXES = (".db3", ".mcap")
# Videos, bags and TUM sequences are subsampled to about this rate so that consecutive samples carry parallax
# (KITTI-style 10 Hz).
DEFAULT_TARGET_RATE_HZ = 10.0


@dataclass(frozen=True)
class ClipSpec:
    """One clip of a corpus.

    Attributes:
        name: clip folder name (the clip id).
        kind: ``video`` (a video file in the folder), ``frames`` (a ``frames/`` image folder), ``bag`` (a rosbag2,
            sqlite3 or MCAP, in a ``bag/`` folder or the folder itself; see
            :func:`ss3d_core.io.bag_images.iter_bag_frames`) or ``tum`` (a TUM RGB-D layout sequence: ``rgb.txt``
            listing stamped images).
        label: human motion label (``translating``, ``static``, ``rotation``, ``dynamic``) or ``None``.
        consecutive: True when the frames are consecutive video frames (not a sparse photo set).
        folder: the clip folder.
        topic: image topic of a ``bag`` clip (the optional ``topic`` column); ``None`` picks the first
            ``sensor_msgs/Image`` topic with a camera encoding.
        licence: the ``licence`` column, if any.
    """

    name: str
    kind: str
    label: str | None
    consecutive: bool
    folder: Path
    topic: str | None = None
    licence: str = ""

    def video_path(self) -> Path:
        """The clip's video file; raises ``FileNotFoundError`` if there is none."""
        videos = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise FileNotFoundError(f"{self.folder}: no video file")
        return videos[0]

    def bag_path(self) -> Path:
        """The clip's rosbag2: ``bag/`` when present, else the folder itself."""
        return self.folder / "bag" if (self.folder / "bag").exists() else self.folder

    def source_path(self) -> Path:
        """The file or folder the frames come from (video file, frames folder, bag, or the TUM sequence folder)."""
        if self.kind == "video":
            return self.video_path()
        if self.kind == "frames":
            return self.folder / "frames"
        if self.kind == "bag":
            return self.bag_path()
        return self.folder

    def iter_stamped_frames(self, target_rate_hz: float) -> Iterator[tuple[float | None, np.ndarray]]:
        """Yield ``(stamp_s, rgb)``: ``H×W×3`` uint8 RGB frames with their time in seconds (``None`` for frame
        folders, which carry no time); videos, bags and TUM sequences are subsampled to about ``target_rate_hz``.

        Raises:
            ValueError: unknown kind, or ``target_rate_hz <= 0``.
            FileNotFoundError: the clip's source is missing.
        """
        if not target_rate_hz > 0:
            raise ValueError(f"target_rate_hz must be > 0, got {target_rate_hz}")
        if self.kind == "video":
            from ss3d_core.io.video import iter_video_frames, video_fps  # PyAV only where video is decoded

            path = self.video_path()
            stride = max(1, round(video_fps(path) / target_rate_hz))
            for stamp_ns, rgb in iter_video_frames(path, stride=stride):
                yield stamp_ns * 1e-9, rgb
        elif self.kind == "frames":
            for p in list_frames(self.folder / "frames"):
                yield None, read_rgb(p)
        elif self.kind == "bag":
            from ss3d_core.io.bag_images import iter_bag_frames  # reads rosbag2 only for bag clips

            yield from iter_bag_frames(self.bag_path(), target_rate_hz, self.topic, with_stamps=True)
        elif self.kind == "tum":
            yield from _iter_tum_frames(self.folder, target_rate_hz)
        else:
            raise ValueError(f"clip {self.name}: unknown kind {self.kind!r} (expected one of {KINDS})")

    def iter_frames(self, target_rate_hz: float) -> Iterator[np.ndarray]:
        """Yield the ``H×W×3`` uint8 RGB frames of :meth:`iter_stamped_frames`."""
        for _, rgb in self.iter_stamped_frames(target_rate_hz):
            yield rgb

    def frame_size(self, target_rate_hz: float) -> tuple[int, int]:
        """``(width, height)`` in pixels of the clip's frames as decoded (its first frame; only that one is decoded).

        Raises:
            ValueError: the clip has no frame (or a reader's error, as :meth:`iter_stamped_frames`).
        """
        for rgb in self.iter_frames(target_rate_hz):
            return rgb.shape[1], rgb.shape[0]
        raise ValueError(f"clip {self.name}: no frames")


def _iter_tum_frames(folder: Path, target_rate_hz: float) -> Iterator[tuple[float, np.ndarray]]:
    """Frames of a TUM-layout sequence (``rgb.txt`` + ``calib.yaml``, :class:`ss3d_core.io.tum_sequence.TumSequence`),
    subsampled by stamp as bags are (:data:`ss3d_core.io.bag_images.KEEP_AFTER_PERIOD_FRACTION`)."""
    from ss3d_core.io.bag_images import KEEP_AFTER_PERIOD_FRACTION
    from ss3d_core.io.tum_sequence import TumSequence

    sequence = TumSequence.load(folder)
    last: float | None = None
    for i, (stamp, _) in enumerate(sequence.rgb):
        if last is not None and 0 <= stamp - last < KEEP_AFTER_PERIOD_FRACTION / target_rate_hz:
            continue
        last = float(stamp)
        yield last, sequence.read_rgb(i)


def detect_kind(folder: Path) -> str | None:
    """The kind of clip a folder holds, or ``None``: ``bag`` (``bag/`` or a ``metadata.yaml`` with a .db3/.mcap),
    ``tum`` (``rgb.txt``), ``frames`` (a ``frames/`` folder of images), ``video`` (a video file), in that order."""
    if (folder / "bag").is_dir() or (
        (folder / "metadata.yaml").is_file() and any(p.suffix in BAG_STORAGE_SUFFIXES for p in folder.iterdir())
    ):
        return "bag"
    if (folder / "rgb.txt").is_file():
        return "tum"
    frames = folder / "frames"
    if frames.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in frames.iterdir()):
        return "frames"
    if any(p.suffix.lower() in VIDEO_SUFFIXES for p in folder.iterdir()):
        return "video"
    return None


def _row_to_spec(root: Path, row: dict[str, str]) -> ClipSpec:
    kind = row["kind"].strip()
    if kind not in KINDS:
        raise ValueError(f"{root}/clips.csv: clip {row['name']!r} has kind {kind!r}; expected one of {KINDS}")
    consecutive = (row.get("consecutive") or "").strip().lower()
    return ClipSpec(
        name=row["name"].strip(),
        kind=kind,
        label=(row.get("label") or "").strip() or None,
        # Without the column, video, bags and TUM sequences are consecutive and frame folders are photo sets.
        consecutive=consecutive == "true" if consecutive else kind != "frames",
        folder=root / row["name"].strip(),
        topic=(row.get("topic") or "").strip() or None,
        licence=(row.get("licence") or "").strip(),
    )


def read_clip_index(root: str | Path) -> list[ClipSpec]:
    """Index one corpus folder (see the module docstring).

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no clip.
        ValueError: a ``clips.csv`` row has an unknown kind.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    index = root / "clips.csv"
    if index.is_file():
        with index.open(newline="") as f:
            return [_row_to_spec(root, row) for row in csv.DictReader(f)]
    kind = detect_kind(root)
    if kind is not None:
        return [ClipSpec(root.name, kind, None, kind != "frames", root)]
    specs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        kind = detect_kind(folder)
        if kind is None:
            LOG.info("%s: no clip found (no video, frames/, bag or rgb.txt), skipped", folder)
            continue
        specs.append(ClipSpec(folder.name, kind, None, kind != "frames", folder))
    if not specs:
        raise FileNotFoundError(f"{root}: no clips.csv and no clip folder (video, frames/, bag/ or rgb.txt)")
    return specs


def read_clip_indices(roots: list[str | Path]) -> list[ClipSpec]:
    """:func:`read_clip_index` over several corpus folders; clip names must be unique across them.

    Raises:
        ValueError: two clips share a name.
    """
    specs = [spec for root in roots for spec in read_clip_index(root)]
    seen: dict[str, Path] = {}
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"clip name {spec.name!r} appears twice: {seen[spec.name]} and {spec.folder}")
        seen[spec.name] = spec.folder
    return specs


def evenly_spaced_pairs(n_frames: int, n_pairs: int) -> list[int]:
    """Indices ``i`` of up to ``n_pairs`` evenly spaced consecutive pairs ``(i, i + 1)`` of an ``n_frames`` clip."""
    if n_frames < 2:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, n_frames - 2, num=min(n_pairs, n_frames - 1))})
