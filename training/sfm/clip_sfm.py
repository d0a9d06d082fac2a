"""Reconstruct one clip with COLMAP, one reconstruction per shot segment, and store it (:mod:`training.sfm.store`).

The frames are the clip's frames at the corpus rate, exactly those the training cache stores and in its order
(``ClipSpec.iter_frames(target_rate_hz)``), so frame ``i`` of the result is frame ``i`` of the cache. Shot segments
are those of the corpus manifest (:func:`training.data.manifest.decode_for_analysis`: PySceneDetect's adaptive rule,
:mod:`training.data.shots`; a photo set is one segment). Each segment is one reconstruction with one shared camera
(:func:`ss3d_core.sfm.runner.reconstruct_frames`: a child process with a timeout, frames at the working size, results
at the source size); a segment that fails leaves its frames unregistered and the others stand.

The clip is decoded twice, once for the manifest's segments (its frames held at the MVS analysis size, at most 640 px
wide) and once streaming the frames to COLMAP one at a time, so no clip is held in memory at its full size.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from ss3d_core.sfm.reconstruction import STATS_KEYS, ReconstructionError, SfmReconstruction
from ss3d_core.sfm.runner import reconstruct_frames
from ss3d_core.sfm.settings import settings_record
from training.data.clips import ClipSpec
from training.data.manifest import decode_for_analysis
from training.sfm.store import entry_key, needs_build, read_record, write_entry

__all__ = ["build_clip", "reconstruct_clip"]

# Statistics of the segment that gives the clip's K, reported as the clip's (the others are in "segments").
PER_MODEL_STATS = ("median_track_length", "median_triangulation_angle_deg", "mean_reprojection_error_px")


def build_clip(
    spec: ClipSpec, output: Path, target_rate_hz: float, timeout_s: float, num_threads: int,
    frame_end: int | None = None,
) -> tuple[dict[str, Any], bool]:
    """Make sure the clip's entry exists under ``output``; reconstruct it only when it does not (or is stale).

    Args:
        spec: the clip.
        output: the store's folder.
        target_rate_hz: the corpus rate (frames as the training cache decodes them).
        timeout_s: wall-clock limit of each segment's COLMAP run, seconds.
        num_threads: CPU threads of each COLMAP run (``-1``: all cores).
        frame_end: reconstruct only the frames before this index (``None``: all); the key covers it.

    Returns:
        ``(record, built)``: the clip's ``sfm.json`` content and whether this call computed it (False: reused).

    Raises:
        FileNotFoundError: the clip's source does not exist (nothing is stored: there is nothing to key it by).
    """
    key = entry_key(spec, target_rate_hz, frame_end)
    record = read_record(output, spec.name)
    if not needs_build(record, key, timeout_s):
        return record, False
    record, arrays = reconstruct_clip(spec, target_rate_hz, timeout_s, num_threads, frame_end)
    record.update(key=key, timeout_s=timeout_s)
    write_entry(output, spec.name, record, arrays)
    return record, True


def reconstruct_clip(
    spec: ClipSpec, target_rate_hz: float, timeout_s: float, num_threads: int, frame_end: int | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """Reconstruct every shot segment of a clip (of its frames before ``frame_end`` when given: the segments are cut
    there and no later frame is decoded for COLMAP) and merge them into one record and one set of arrays over all of
    the clip's frames.

    Returns:
        ``(record, arrays)``: the ``sfm.json`` content without ``key`` (:mod:`training.sfm.store`) and the
        ``T_camera_world`` / ``registered`` / ``points_uvz`` / ``points_offsets`` arrays over all ``N`` frames, or
        ``None`` when no segment gave a model (``record["status"] == "failed"`` with the reason). A clip that cannot
        be decoded (a damaged video or bag: ``ValueError``, ``BagReadError``, ``OSError``) is a failed record.
    """
    start = time.perf_counter()
    base = {"clip": spec.name, "label": spec.label, "source": str(spec.source_path()), "rate_hz": target_rate_hz,
            "settings": settings_record(), "registered": 0, "models": 0, "K": None, "frame_end": frame_end}
    try:
        entry, _ = decode_for_analysis(spec, target_rate_hz)
        base.update(frames=entry.n_frames, width=entry.width, height=entry.height)
        end_at = entry.n_frames if frame_end is None else min(frame_end, entry.n_frames)
        spans = [(first, min(end, end_at)) for first, end in entry.segments if first < end_at]
        frames = iter(spec.iter_frames(target_rate_hz))
        # reconstruct_frames consumes each segment's frames to the end, so the next one starts at its first frame.
        parts = [_reconstruct_segment(islice(frames, end - first), timeout_s, num_threads) for first, end in spans]
    except (ValueError, OSError) as err:  # BagReadError is a ValueError
        return _failed(base, f"unreadable: {err}", start), None
    if not spans:
        return _failed(base, "no frames", start), None
    segments = [_segment_record(first, end, part) for (first, end), part in zip(spans, parts)]
    record = {**base, "segments": segments, "timed_out": any(s["failure"] == "timeout" for s in segments)}
    models = [(s, part) for s, part in zip(segments, parts) if isinstance(part, SfmReconstruction)]
    if not models:
        reasons = [segments[0]["reason"]] if len(segments) == 1 else [
            f"frames {s['start']}-{s['end'] - 1}: {s['reason']}" for s in segments]
        return _failed(record, "; ".join(reasons), start), None
    arrays = _merge(entry.n_frames, [(s["start"], part) for s, part in models])
    best_index = max(range(len(segments)), key=lambda i: segments[i]["registered"])
    best = segments[best_index]
    n_registered = int(arrays["registered"].sum())
    record.update(
        status="ok", reason=None, K=best["K"], K_segment=best_index, registered=n_registered,
        models=sum(s["models"] for s in segments), seconds=round(time.perf_counter() - start, 2),
        points_per_image=len(arrays["points_uvz"]) / n_registered, **{k: best[k] for k in PER_MODEL_STATS},
    )
    return record, arrays


def _failed(record: dict[str, Any], reason: str, start: float) -> dict[str, Any]:
    return {"timed_out": False, **record, "status": "failed", "reason": reason,
            "seconds": round(time.perf_counter() - start, 2)}


def _reconstruct_segment(frames: Iterator[np.ndarray], timeout_s: float,
                         num_threads: int) -> SfmReconstruction | ReconstructionError:
    try:
        return reconstruct_frames(frames, timeout_s=timeout_s, num_threads=num_threads)
    except ReconstructionError as err:
        return err


def _segment_record(first: int, end: int, part: SfmReconstruction | ReconstructionError) -> dict[str, Any]:
    """JSON-ready summary of one segment: its range, status, K (source pixels) and statistics, or its failure."""
    if isinstance(part, ReconstructionError):
        return {"start": first, "end": end, "status": "failed", "reason": str(part), "failure": part.kind,
                "registered": 0, "models": 0}
    return {"start": first, "end": end, "status": "ok", "reason": None, "failure": None, "K": part.K.tolist(),
            **{k: part.stats[k] for k in STATS_KEYS}, "radial_k1": part.stats["radial_k1"],
            "working_size": part.stats["working_size"]}


def _merge(n_frames: int, models: list[tuple[int, SfmReconstruction]]) -> dict[str, np.ndarray]:
    """The clip's arrays from the segments that gave a model (``(first frame, reconstruction)``, in order)."""
    T_camera_world = np.full((n_frames, 4, 4), np.nan)
    registered = np.zeros(n_frames, bool)
    counts = np.zeros(n_frames, np.int64)
    for first, model in models:
        end = first + model.n_frames
        T_camera_world[first:end] = model.T_camera_world
        registered[first:end] = model.registered
        counts[first:end] = np.diff(model.points_offsets)
    points = [model.points_uvz for _, model in models]
    return {"T_camera_world": T_camera_world, "registered": registered,
            "points_uvz": np.concatenate(points).astype(np.float32),
            "points_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)}
