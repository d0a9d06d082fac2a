"""The SfM teacher's store: one COLMAP reconstruction per clip on disk, written once, read by every run, stage and rank.

Layout, one folder per clip: ``<output>/<clip>/sfm.json`` (:data:`RECORD_FILE`) with ``status`` (``ok`` or
``failed``), ``reason``, ``key``, ``frames``, ``registered``, ``K`` (3×3, pixels at the clip's source size, pixel
centres at integer coordinates), ``width``, ``height`` (source size), ``models``, ``seconds``, ``points_per_image``,
``median_track_length``, ``median_triangulation_angle_deg``, ``mean_reprojection_error_px`` and ``segments`` (one
entry per shot segment, each its own reconstruction), and beside it, for an ``ok`` clip:

* ``poses.npy``: ``N×4×4`` float64 ``T_camera_world`` (world -> camera optical frame), NaN for unregistered frames;
* ``registered.npy``: ``N`` bool;
* ``points_uvz.npy``: ``M×3`` float32 sparse depth ``(u, v, z)``: pixel coordinates at the source size and depth
  along the optical axis in the reconstruction's unit;
* ``points_offsets.npy``: ``N+1`` int64, frame ``i``'s points are rows ``offsets[i]:offsets[i + 1]``.

Frame ``i`` is frame ``i`` of the training cache (:mod:`training.corpus.cache`): the clip's frames at the corpus rate,
``ClipSpec.iter_frames(target_rate_hz)``. Each shot segment is reconstructed on its own, so poses and depths of two
segments are in different worlds and scales; the clip's ``K`` is that of the segment with the most registered frames
(``K_segment``), and every segment's own ``K`` is in ``segments``.

``key`` hashes what the result depends on, as the training cache keys its entries: the clip's kind, topic and source
files (:func:`training.corpus.cache.source_fingerprint`), the frame rate and the COLMAP settings with their version
(:func:`ss3d_core.sfm.settings.settings_record`, which holds the working size). An entry whose key matches is reused
as it is, failed ones too, except a timeout, which a run with a longer timeout retries. Entries are built in a
temporary folder beside the target and renamed into place, so an interrupted build leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ss3d_core.sfm.reconstruction import ARRAY_FILES
from ss3d_core.sfm.settings import MIN_FRAMES, settings_record
from training.clips import DEFAULT_TARGET_RATE_HZ, ClipSpec
from training.corpus.cache import source_fingerprint

__all__ = ["RECORD_FILE", "MIN_REGISTERED_FRACTION", "MIN_REGISTERED_FRAMES", "SfmLabels", "entry_key",
           "read_record", "needs_build", "write_entry", "load_sfm", "unusable_reason"]

LOG = logging.getLogger(__name__)

RECORD_FILE = "sfm.json"
# Bump when the layout of a stored entry changes (the COLMAP settings have their own version).
STORE_FORMAT_VERSION = 1
# A clip trains with SfM labels only if at least this share of its frames registered: below it the reconstruction
# explains little of the clip (issue 23 counted a clip as reconstructed from half of its frames on).
MIN_REGISTERED_FRACTION = 0.5
# ... and at least this many frames (a model of fewer frames fixes no focal length).
MIN_REGISTERED_FRAMES = MIN_FRAMES


def entry_key(spec: ClipSpec, target_rate_hz: float) -> str:
    """16 hex digits hashing the clip's source files, the rate and the COLMAP settings (see the module docstring).

    Raises:
        FileNotFoundError: the clip's source does not exist.
    """
    source = {"format": STORE_FORMAT_VERSION, "clip": source_fingerprint(spec), "rate_hz": target_rate_hz,
              "settings": settings_record()}
    return hashlib.sha1(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]


def read_record(output: Path, name: str) -> dict[str, Any] | None:
    """The ``sfm.json`` of clip ``name`` under ``output``, or ``None`` when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(output) / name / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None


def needs_build(record: dict[str, Any] | None, key: str, timeout_s: float) -> bool:
    """Whether a clip must be (re)built: no entry, another key, or a segment that timed out under a shorter limit than
    ``timeout_s``."""
    if record is None or record.get("key") != key:
        return True
    return bool(record.get("timed_out")) and float(record.get("timeout_s") or 0.0) < timeout_s


def write_entry(output: Path, name: str, record: dict[str, Any], arrays: dict[str, np.ndarray] | None) -> Path:
    """Write one clip's entry atomically: built in a temporary folder beside it, then renamed over the old one.

    Args:
        output: the store's folder.
        name: the clip's name (its folder).
        record: the JSON-ready ``sfm.json`` content.
        arrays: ``{"T_camera_world", "registered", "points_uvz", "points_offsets"}`` for an ``ok`` clip, else None.

    Returns:
        The entry's folder.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    target = output / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=output))
    old = None
    try:
        for array_name, filename in ARRAY_FILES.items() if arrays is not None else ():
            np.save(tmp / filename, np.ascontiguousarray(arrays[array_name]))
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=output))
            os.rename(target, old / name)
        os.rename(tmp, target)
    finally:
        for leftover in (tmp, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    return target


def unusable_reason(record: dict[str, Any] | None) -> str | None:
    """Why a clip's entry gives no labels (no entry, a failure, too little registered), or ``None`` when it does."""
    if record is None:
        return "no SfM entry (run python -m training sfm)"
    if record.get("status") != "ok":
        return f"SfM failed: {record.get('reason')}"
    frames, registered = int(record["frames"]), int(record["registered"])
    if registered < MIN_REGISTERED_FRAMES or registered < MIN_REGISTERED_FRACTION * frames:
        return (f"SfM registered {registered} of {frames} frames (fewer than {MIN_REGISTERED_FRAMES} or "
                f"{MIN_REGISTERED_FRACTION:.0%})")
    return None


@dataclass(frozen=True)
class SfmLabels:
    """A clip's SfM labels (memory-mapped, read-only), frame ``i`` being frame ``i`` of the training cache.

    Attributes:
        clip: the clip's name.
        K: ``3×3`` float64 intrinsics, pixels at ``width×height`` (pixel centres at integer coordinates).
        width, height: the clip's source size in pixels.
        T_camera_world: ``N×4×4`` float64 world -> camera optical frame (x right, y down, z forward), NaN rows for
            unregistered frames; the world and scale are those of the frame's segment.
        registered: ``N`` bool.
        segment: ``N`` int64, the shot segment (reconstruction) of each frame: poses and depths compare only within one.
        points_uvz: ``M×3`` float32 ``(u, v, z)``: pixels at the source size, depth along the optical axis in the
            segment's unit (> 0); points seen in ≥ 3 frames with a small reprojection error (:mod:`ss3d_core.sfm`).
        points_offsets: ``N+1`` int64, frame ``i``'s points are rows ``points_offsets[i]:points_offsets[i + 1]``.
    """

    clip: str
    K: np.ndarray
    width: int
    height: int
    T_camera_world: np.ndarray
    registered: np.ndarray
    segment: np.ndarray
    points_uvz: np.ndarray
    points_offsets: np.ndarray

    def points(self, frame: int) -> np.ndarray:
        """``K_i×3`` float32 ``(u, v, z)`` of one frame (empty when it did not register)."""
        return self.points_uvz[self.points_offsets[frame]:self.points_offsets[frame + 1]]

    def relative_pose(self, dst: int, src: int) -> np.ndarray | None:
        """``4×4`` float64 ``T_dst_src`` (frame ``src``'s camera -> frame ``dst``'s camera, the segment's unit), or
        ``None`` unless both frames registered in the same segment."""
        if not (self.registered[dst] and self.registered[src]) or self.segment[dst] != self.segment[src]:
            return None
        return self.T_camera_world[dst] @ np.linalg.inv(self.T_camera_world[src])


def load_sfm(output: str | Path, spec: ClipSpec, target_rate_hz: float = DEFAULT_TARGET_RATE_HZ) -> SfmLabels | None:
    """A clip's SfM labels, or ``None`` (with one log line saying why) when the clip has no usable entry: none, a
    stale one (the clip, the rate or the COLMAP settings changed since it was built), a failed one, or one with fewer
    registered frames than :data:`MIN_REGISTERED_FRAMES` or :data:`MIN_REGISTERED_FRACTION` of the clip.

    Args:
        output: the store's folder (``python -m training sfm --output``).
        spec: the clip.
        target_rate_hz: the corpus rate the labels must have been built at.

    Raises:
        FileNotFoundError: the clip's source does not exist.
    """
    folder = Path(output) / spec.name
    record = read_record(output, spec.name)
    reason = unusable_reason(record)
    if reason is None and record.get("key") != entry_key(spec, target_rate_hz):
        reason = "stale SfM entry (the clip, the rate or the COLMAP settings changed; rerun python -m training sfm)"
    if reason is not None:
        LOG.info("clip %s: no SfM labels: %s", spec.name, reason)
        return None
    arrays = {name: np.load(folder / filename, mmap_mode="r", allow_pickle=False)
              for name, filename in ARRAY_FILES.items()}
    segment = np.zeros(int(record["frames"]), np.int64)
    for index, part in enumerate(record["segments"]):
        segment[part["start"]:part["end"]] = index
    return SfmLabels(clip=spec.name, K=np.asarray(record["K"], np.float64), width=int(record["width"]),
                     height=int(record["height"]), segment=segment, **arrays)
