"""The SfM teacher's store: one COLMAP reconstruction per clip on disk, written once, read by every run, stage and rank.

Layout, one folder per clip: ``<output>/<clip>/sfm.json`` (:data:`RECORD_FILE`) with ``status`` (``ok`` or
``failed``), ``reason``, ``key``, ``frames``, ``registered``, ``K`` (3×3, pixels at the clip's source size, pixel
centres at integer coordinates), ``width``, ``height`` (source size), ``models``, ``seconds``, ``points_per_image``,
``median_track_length``, ``median_triangulation_angle_deg``, ``mean_reprojection_error_px``, ``segments`` (one
entry per shot segment, each its own reconstruction) and ``frame_end`` (``None``, or the first frame not given to
COLMAP when only the clip's first part was reconstructed: a fine-tuning log without its held-back end; the arrays
still cover every frame, the later ones unregistered), and beside it, for an ``ok`` clip:

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
(:func:`ss3d_core.sfm.settings.settings_record`, which holds the working size), and ``frame_end`` when it is set, so
the key covers exactly the frames reconstructed. An entry whose key matches is reused
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

from ss3d_core.sfm.plausibility import MAX_FOV_DEG, MIN_FOV_DEG, field_of_view_deg, implausible_focal_reason
from ss3d_core.sfm.reconstruction import ARRAY_FILES
from ss3d_core.sfm.settings import MIN_FRAMES, settings_record
from training.data.clips import DEFAULT_TARGET_RATE_HZ, ClipSpec
from training.data.fingerprint import source_fingerprint

__all__ = ["RECORD_FILE", "MIN_REGISTERED_FRACTION", "MIN_REGISTERED_FRAMES", "MIN_FOV_DEG", "MAX_FOV_DEG",
           "SfmLabels", "entry_key", "read_record", "needs_build", "write_entry", "load_sfm", "load_reconstruction",
           "usable_record", "reconstructed_frames",
           "unusable_reason", "implausible_focal_reason", "field_of_view_deg", "corpus_focal_per_width"]

LOG = logging.getLogger(__name__)

RECORD_FILE = "sfm.json"
# Bump when the layout of a stored entry changes (the COLMAP settings have their own version).
STORE_FORMAT_VERSION = 1
# A clip trains with SfM labels only if at least this share of its frames registered: below it the reconstruction
# explains little of the clip (issue 23 counted a clip as reconstructed from half of its frames on).
MIN_REGISTERED_FRACTION = 0.5
# ... and at least this many frames (a model of fewer frames fixes no focal length).
MIN_REGISTERED_FRAMES = MIN_FRAMES


def entry_key(spec: ClipSpec, target_rate_hz: float, frame_end: int | None = None) -> str:
    """16 hex digits hashing the clip's source files, the rate and the COLMAP settings (see the module docstring), and
    ``frame_end`` when only the frames before it were reconstructed (a fine-tuning log's training part).

    Raises:
        FileNotFoundError: the clip's source does not exist.
    """
    source = {"format": STORE_FORMAT_VERSION, "clip": source_fingerprint(spec), "rate_hz": target_rate_hz,
              "settings": settings_record()}
    if frame_end is not None:  # absent otherwise, so whole-clip keys stay what they were
        source["frame_end"] = int(frame_end)
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


def reconstructed_frames(record: dict[str, Any]) -> int:
    """How many frames of an entry COLMAP was given: ``frame_end`` when only a first part was (the rest never
    registers), else all ``frames``."""
    return int(record.get("frame_end") or record["frames"])


def unusable_reason(record: dict[str, Any] | None) -> str | None:
    """Why a clip's entry gives no labels (no entry, a failure, too little registered, an implausible focal length:
    :func:`implausible_focal_reason`), or ``None`` when it does. A read-time rule: the stored entry is not changed."""
    if record is None:
        return "no SfM entry (run python -m training sfm)"
    if record.get("status") != "ok":
        return f"SfM failed: {record.get('reason')}"
    frames, registered = reconstructed_frames(record), int(record["registered"])
    if registered < MIN_REGISTERED_FRAMES or registered < MIN_REGISTERED_FRACTION * frames:
        return (f"SfM registered {registered} of {frames} frames (fewer than {MIN_REGISTERED_FRAMES} or "
                f"{MIN_REGISTERED_FRACTION:.0%})")
    return implausible_focal_reason(record["K"], int(record["width"]), int(record["height"]))


def usable_record(output: str | Path, spec: ClipSpec,
                  target_rate_hz: float = DEFAULT_TARGET_RATE_HZ) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` when the clip's entry gives labels, else ``(record or None, reason)``: no entry, a stale one
    (the clip, the rate or the COLMAP settings changed since it was built), or :func:`unusable_reason`.

    Raises:
        FileNotFoundError: the clip's source does not exist.
    """
    record = read_record(output, spec.name)
    reason = unusable_reason(record)
    if reason is None and record.get("key") != entry_key(spec, target_rate_hz, record.get("frame_end")):
        reason = "stale SfM entry (the clip, the rate or the COLMAP settings changed; rerun python -m training sfm)"
    return record, reason


def corpus_focal_per_width(output: str | Path, specs: list[ClipSpec],
                           target_rate_hz: float = DEFAULT_TARGET_RATE_HZ) -> tuple[float | None, int]:
    """The median ``fx / W`` (focal length in image widths at the source size) over the clips whose entry gives
    labels (:func:`usable_record`), one value per clip: the constant K a head learns if it learns only the corpus's
    average, ``ss3d_eval --corpus-fx-per-width``.

    Returns:
        ``(median, clips)``: the median (``None`` when no clip gives labels) and how many clips it is over. A clip
        whose source is missing counts as none.
    """
    values = []
    for spec in specs:
        try:
            record, reason = usable_record(output, spec, target_rate_hz)
        except FileNotFoundError:
            continue
        if reason is None:
            values.append(float(record["K"][0][0]) / int(record["width"]))
    return (float(np.median(values)) if values else None), len(values)


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
        segment_K: each segment's own ``3×3`` K (pixels at ``width×height``; ``None`` for a segment without a model),
            indexed by ``segment``; ``K`` is the one of the segment that registered the most frames.
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
    segment_K: tuple[np.ndarray | None, ...] = ()

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
    stale one (the clip, the rate or the COLMAP settings changed since it was built), a failed one, one with fewer
    registered frames than :data:`MIN_REGISTERED_FRAMES` or :data:`MIN_REGISTERED_FRACTION` of the clip, or one whose
    focal length is implausible (:func:`implausible_focal_reason`).

    Args:
        output: the store's folder (``python -m training sfm --output``).
        spec: the clip.
        target_rate_hz: the corpus rate the labels must have been built at.

    Raises:
        FileNotFoundError: the clip's source does not exist.
    """
    record, reason = usable_record(output, spec, target_rate_hz)
    if reason is not None:
        LOG.info("clip %s: no SfM labels: %s", spec.name, reason)
        return None
    return _open(output, spec.name, record)


def load_reconstruction(output: str | Path, spec: ClipSpec,
                        target_rate_hz: float = DEFAULT_TARGET_RATE_HZ) -> SfmLabels | None:
    """A clip's reconstruction whatever its share of registered frames or its focal length, for measuring how well it
    explains the clip (the MVS proxy, :mod:`training.corpus.rigidity`) rather than training on it; ``None`` (with one
    log line saying why) without a current ``ok`` entry (none, a stale one, a failed one).

    Raises:
        FileNotFoundError: the clip's source does not exist.
    """
    record = read_record(output, spec.name)
    if record is None or record.get("status") != "ok":
        reason = unusable_reason(record)
    elif record.get("key") != entry_key(spec, target_rate_hz, record.get("frame_end")):
        reason = "stale SfM entry (the clip, the rate or the COLMAP settings changed; rerun python -m training sfm)"
    else:
        return _open(output, spec.name, record)
    LOG.info("clip %s: no SfM reconstruction: %s", spec.name, reason)
    return None


def _open(output: str | Path, name: str, record: dict[str, Any]) -> SfmLabels:
    """Memory-map an ``ok`` entry's arrays."""
    folder = Path(output) / name
    arrays = {key: np.load(folder / filename, mmap_mode="r", allow_pickle=False)
              for key, filename in ARRAY_FILES.items()}
    segment = np.zeros(int(record["frames"]), np.int64)
    for index, part in enumerate(record["segments"]):
        segment[part["start"]:part["end"]] = index
    segment_K = tuple(None if part.get("K") is None else np.asarray(part["K"], np.float64)
                      for part in record["segments"])
    return SfmLabels(clip=name, K=np.asarray(record["K"], np.float64), width=int(record["width"]),
                     height=int(record["height"]), segment=segment, segment_K=segment_K, **arrays)
