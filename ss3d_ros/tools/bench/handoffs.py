"""Where a frame's time goes between the player, the node and the recorder: one segment per hand-off.

Joins three records of one run on the image stamp, all on the host's monotonic clock (``time.monotonic()``):
the player's publish time and the recorder's depth arrival time (this process), and the node's frame trace
(:mod:`ss3d_ros.frame_trace`, written by the node process at shutdown). Segments, in order (milliseconds):

- ``transport_in``: player publish -> the node's subscription callback (DDS delivery, the node's executor taking the
  message and handing it to a callback thread);
- ``mailbox``: callback -> the inference worker taking the frame (the worker busy with the previous one);
- ``conversion``: message -> RGB array;
- ``preprocessing``, ``inference``, ``postprocessing``: the estimator's own figures;
- ``node_other``: the rest of the worker's time until the depth message is handed to its publisher (parameters,
  camera_info, building the message, and whatever stalled the worker thread between the measured steps: the GIL, a
  garbage collection, the scheduler);
- ``transport_out``: depth handed to the publisher -> its arrival at the recorder (DDS and the player process's
  executor).

The breakdown reports each segment's p50/p95/max, and the mean of each segment over the slowest frames (end-to-end
latency at or above its p95), which says which hand-off the stalls sit in. The worker's CPU time over its wall time
(pick-up to the last output) says what kind of stall it is: well under 1, the thread waited for a core (other threads
or processes ran); near 1 with a long inference, the core itself ran slower (caches, memory bandwidth or a hardware
thread shared with other work).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

SEGMENTS = ("transport_in", "mailbox", "conversion", "preprocessing", "inference", "postprocessing", "node_other",
            "transport_out")
# The slow frames whose segments are averaged: end-to-end latency at or above this percentile.
SLOW_PERCENTILE = 95.0


def _segments(published_s: float, arrived_s: float, frame: Mapping[str, Any]) -> dict[str, float]:
    """Segment durations (ms) of one published frame from its trace record."""
    worker_ms = (frame["preprocess_ms"] + frame["inference_ms"] + frame["postprocess_ms"])
    return {
        "transport_in": (frame["received"] - published_s) * 1e3,
        "mailbox": (frame["picked_up"] - frame["received"]) * 1e3,
        "conversion": (frame["converted"] - frame["picked_up"]) * 1e3,
        "preprocessing": frame["preprocess_ms"],
        "inference": frame["inference_ms"],
        "postprocessing": frame["postprocess_ms"],
        "node_other": (frame["depth_publish"] - frame["converted"]) * 1e3 - worker_ms,
        "transport_out": (arrived_s - frame["depth_publish"]) * 1e3,
    }


def _spread(values: np.ndarray) -> dict[str, float | None]:
    if not values.size:
        return {"p50": None, "p95": None, "max": None}
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "max": float(values.max())}


def handoff_breakdown(
    published: Mapping[int, float],
    arrivals: Mapping[int, float],
    trace: Mapping[str, Any],
    due: Mapping[int, float] | None = None,
) -> dict[str, Any]:
    """Per-segment figures of one run.

    Args:
        published: ``{stamp_ns: player publish time}``, monotonic seconds.
        arrivals: ``{stamp_ns: depth arrival time at the recorder}``, monotonic seconds.
        trace: the node's :meth:`ss3d_ros.frame_trace.FrameTrace.as_dict`.
        due: ``{stamp_ns: when the player should have published}`` (monotonic seconds), for the player's lateness.

    Returns:
        ``{"segments_ms": {segment: {"p50", "p95", "max"}}, "slow_frames": n, "slow_frames_mean_ms": {segment: ms},
        "worker_cpu_over_wall": {"p50", "slow_frames_mean"}, "frames_published", "frames_reaching_node",
        "outcomes": {outcome: n}, "gc": {...}, "player_late_ms": {...}}``;
        ``frames_published - frames_reaching_node`` frames were lost before the node's callback (best-effort DDS,
        keep last 1: a sample not taken before the next one arrives is replaced). ``gc`` counts the node's
        garbage-collector pauses during playback by generation, with their total and longest duration, and how
        many slow frames were in flight during one.
    """
    frames = {f["stamp_ns"]: f for f in trace.get("frames", []) if f["stamp_ns"] in published}
    outcomes: dict[str, int] = {}
    for frame in frames.values():
        outcomes[frame["outcome"]] = outcomes.get(frame["outcome"], 0) + 1
    rows, spans, cpu_share = [], [], []
    for stamp, frame in frames.items():
        if frame["outcome"] == "published" and stamp in arrivals:
            rows.append(_segments(published[stamp], arrivals[stamp], frame))
            spans.append((published[stamp], arrivals[stamp]))
            cpu_share.append(frame["worker_cpu_ms"] / max((frame["published"] - frame["picked_up"]) * 1e3, 1e-9))
    table = {name: np.array([row[name] for row in rows]) for name in SEGMENTS}
    total = np.array([end - start for start, end in spans]) * 1e3
    slow = total >= np.percentile(total, SLOW_PERCENTILE) if total.size else np.zeros(0, dtype=bool)
    window = (min(published.values()), max(arrivals.values(), default=max(published.values()))) if published else None
    pauses = [p for p in trace.get("gc_pauses", []) if window and window[0] <= p["start"] <= window[1]]
    gc_summary: dict[str, Any] = {}
    for generation in sorted({p["generation"] for p in pauses}):
        durations = [p["duration_ms"] for p in pauses if p["generation"] == generation]
        gc_summary[f"generation_{generation}"] = {"count": len(durations), "total_ms": float(sum(durations)),
                                                  "max_ms": float(max(durations))}
    slow_spans = [span for span, is_slow in zip(spans, slow) if is_slow]
    gc_summary["slow_frames_during_a_pause"] = sum(
        any(start <= p["start"] <= end for p in pauses) for start, end in slow_spans)
    result: dict[str, Any] = {
        "segments_ms": {name: _spread(values) for name, values in table.items()},
        "end_to_end_ms": _spread(total),
        "slow_frames": int(slow.sum()),
        "slow_frames_mean_ms": {name: float(values[slow].mean()) if slow.any() else None
                                for name, values in table.items()},
        "worker_cpu_over_wall": {"p50": float(np.median(cpu_share)) if cpu_share else None,
                                 "slow_frames_mean": float(np.mean(np.array(cpu_share)[slow])) if slow.any() else None},
        "frames_published": len(published),
        "frames_reaching_node": len(frames),
        "outcomes": outcomes,
        "gc": gc_summary,
    }
    if due:
        late = np.array([(published[s] - due[s]) * 1e3 for s in published if s in due])
        result["player_late_ms"] = _spread(late)
    return result
