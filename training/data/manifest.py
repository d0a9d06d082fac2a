"""The corpus manifest: one entry per clip (id, source, frames, rate, resolution, shot segments), decoded once.

Built from any source the clip index reads (:mod:`training.data.clips`: video, frame folders, rosbag2, TUM layout). The
decoding pass that counts frames also finds the shot cuts (:mod:`training.data.shots`), so a clip of edited video
is split into segments and no training pair spans a cut. Written as JSON next to the MVS scores.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ss3d_core.geometry.pair_signal import analysis_frame
from training.data.clips import ClipSpec
from training.data.shots import content_scores, shot_segments

LOG = logging.getLogger(__name__)

@dataclass(frozen=True)
class ManifestEntry:
    """One clip of the corpus.

    Attributes:
        name: clip id (its folder name).
        kind: ``video``, ``frames``, ``bag`` or ``tum`` (:data:`training.data.clips.KINDS`).
        source: the file or folder its frames come from.
        consecutive: consecutive video frames (True) or a photo set (False).
        label: the human motion label, if the corpus has one (only for measuring the MVS proxy).
        licence: the corpus' licence column, if any.
        n_frames: frames at the training rate.
        rate_hz: median frame rate after subsampling (``None`` for frame folders, which carry no time).
        width, height: source resolution in pixels (of the first frame).
        segments: ``[start, end)`` frame ranges between shot cuts (photo sets are one segment).
    """

    name: str
    kind: str
    source: str
    consecutive: bool
    label: str | None
    licence: str
    n_frames: int
    rate_hz: float | None
    width: int
    height: int
    segments: list[tuple[int, int]] = field(default_factory=list)


def decode_for_analysis(spec: ClipSpec, target_rate_hz: float) -> tuple[ManifestEntry, list[np.ndarray]]:
    """Decode a clip once at the training rate: its manifest entry and its frames at the MVS analysis size.

    Raises:
        ValueError, FileNotFoundError, OSError: the clip cannot be read (the caller reports and skips it).
    """
    stamps, frames, size = [], [], (0, 0)
    for stamp, rgb in spec.iter_stamped_frames(target_rate_hz):
        if not frames:
            size = rgb.shape[1], rgb.shape[0]
        elif (rgb.shape[1], rgb.shape[0]) != size:
            raise ValueError(f"clip {spec.name}: frame size changes from {size} to {rgb.shape[1::-1]}")
        stamps.append(stamp)
        frames.append(analysis_frame(rgb))
    steps = np.diff([s for s in stamps if s is not None])
    rate = float(1.0 / np.median(steps)) if len(steps) and np.median(steps) > 0 else None
    if spec.consecutive and len(frames) > 1:
        segments = shot_segments(content_scores(frames), len(frames))
    else:
        segments = [(0, len(frames))] if frames else []
    entry = ManifestEntry(spec.name, spec.kind, str(spec.source_path()), spec.consecutive, spec.label, spec.licence,
                          len(frames), rate, size[0], size[1], segments)
    return entry, frames


def write_manifest(entries: list[ManifestEntry], path: Path, target_rate_hz: float) -> None:
    """Write the manifest as JSON (``{"target_rate_hz": ..., "clips": [entry, ...]}``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"target_rate_hz": target_rate_hz, "clips": [asdict(e) for e in entries]}
    path.write_text(json.dumps(payload, indent=1) + "\n")


def read_manifest(path: Path) -> list[ManifestEntry]:
    """Read a manifest written by :func:`write_manifest`.

    Raises:
        FileNotFoundError: no such file. ValueError: not a manifest.
    """
    payload = json.loads(Path(path).read_text())
    if not isinstance(payload, dict) or "clips" not in payload:
        raise ValueError(f"{path}: not an SS3D corpus manifest")
    return [ManifestEntry(**{**c, "segments": [tuple(s) for s in c["segments"]]}) for c in payload["clips"]]
