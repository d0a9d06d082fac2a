"""The ``ss3d`` node end to end over DDS, in its own process, fed real frames at a given input rate.

Each run starts a fresh node (``replay_session.run_session``), publishes the bundled 960×540 dashcam clip re-timed
to ``input_hz`` (best effort, as a camera does), and measures at the client: output rate, latency from publish to
depth arrival (same host, monotonic clock), frames without output. The node's own per-stage medians (waiting for the
worker, conversion, preprocessing, inference, postprocessing, publishing; ``/diagnostics``) split that latency;
``transport_and_executor`` is what remains: DDS delivery both ways and the executor handing the message over. The
node also writes its frame trace (``trace_file``), which :mod:`ss3d_ros.tools.bench.handoffs` joins with the player's
and recorder's times into one segment per hand-off.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from ss3d_ros.stream_stats import STAGES
from ss3d_ros.tools.bench.handoffs import handoff_breakdown
from ss3d_ros.tools.frame_sources import VideoSource
from ss3d_ros.tools.replay_session import SessionResult, run_session, summarise
from ss3d_ros.tools.share_files import config_file

LOG = logging.getLogger(__name__)
TRACE_FILE = "node_trace.json"


def node_arguments(backend: str, num_threads: int | None, extra: list[str]) -> list[str]:
    """``--ros-args`` of the benchmarked node: the installed params file, the backend and thread count."""
    ros_args: list[str] = []
    params = config_file("ss3d.yaml")
    if params is not None:
        ros_args += ["--params-file", str(params)]
    ros_args += ["-p", f"backend:={backend}", "-p", "autostart:=true"]
    if num_threads:
        ros_args += ["-p", f"num_threads:={num_threads}"]
    for override in extra:
        ros_args += ["-p", override]
    return ros_args


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def measure_node(
    video: Path,
    input_hz: float,
    ros_args: list[str],
    max_frames: int | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """One node run at ``input_hz``.

    Args:
        video: the clip (its frames are published in order, re-timed to ``input_hz``).
        input_hz: publishing rate, frames per second.
        ros_args: the node's ``--ros-args`` (:func:`node_arguments`).
        max_frames: publish at most this many frames.
        work_dir: folder for the node's log (default: a temporary one).

    Returns:
        ``{"input_hz", "output_hz", "p50_ms", "p95_ms", "drops", "frames", "node_drops", "load_average_start",
        "backend", "stages_p50_ms", "handoffs"}``: ``drops`` = published frames without an output, ``node_drops`` the
        node's own counts by reason (``drops_total``, ``drops_stale``, ...), ``load_average_start`` the machine's
        1-minute load average before the run; ``stages_p50_ms`` the node's per-stage medians plus
        ``transport_and_executor`` (end-to-end p50 minus their sum); ``handoffs``
        (:func:`~ss3d_ros.tools.bench.handoffs.handoff_breakdown`) from the node's frame trace, or ``None`` when the
        node left none.

    Raises:
        ss3d_ros.tools.replay_session.SessionError: the node did not start or died.
        ValueError: a non-positive ``input_hz``.
    """
    if input_hz <= 0:
        raise ValueError(f"input_hz must be > 0, got {input_hz}")
    source = VideoSource(video, max_frames=max_frames)
    frames = list(source.frames())  # decoded before the clock starts: the publisher only publishes
    work_dir = Path(work_dir or tempfile.mkdtemp(prefix="ss3d_bench_"))
    LOG.info("node at %g Hz input: %d frames", input_hz, len(frames))
    rate = input_hz / source.nominal_rate_hz()
    trace_path = work_dir / TRACE_FILE
    trace_path.unlink(missing_ok=True)
    load_average = round(os.getloadavg()[0], 2)
    result = run_session(frames, [*ros_args, "-p", f"trace_file:={trace_path}"], work_dir, rate=rate, bag_dir=None,
                         namespace=f"/ss3d_bench_{int(input_hz)}", keep_depth=False)
    summary = summarise(result)
    diagnostics = result.outputs.diagnostics
    stages = {name: _float(diagnostics.get(f"stage_{name}_p50_ms")) for name in STAGES}
    p50 = summary["latency_ms"]["p50"]
    known = [v for v in stages.values() if v is not None]
    stages["transport_and_executor"] = p50 - sum(known) if p50 is not None and known else None
    return {
        "input_hz": summary["input_rate_hz"],
        "output_hz": summary["output_rate_hz"],
        "p50_ms": p50,
        "p95_ms": summary["latency_ms"]["p95"],
        "drops": summary["drops"]["frames_without_output"],
        "frames": summary["frames_published"],
        "node_drops": summary["drops"]["node_reported"],
        "load_average_start": load_average,
        "backend": diagnostics.get("backend", ""),
        "stages_p50_ms": stages,
        "handoffs": _handoffs(result, trace_path, [f.stamp_ns for f in frames], rate),
    }


def _handoffs(result: SessionResult, trace_path: Path, stamps: list[int], rate: float) -> dict[str, Any] | None:
    """The hand-off breakdown of one run, the player's schedule counted from its first publish."""
    if not trace_path.is_file() or not result.published:
        LOG.warning("the node left no frame trace at %s: no hand-off breakdown", trace_path)
        return None
    first = stamps[0]
    start = result.published[first] if first in result.published else min(result.published.values())
    due = {stamp: start + (stamp - first) * 1e-9 / rate for stamp in stamps}
    trace = json.loads(trace_path.read_text())
    return handoff_breakdown(result.published, result.outputs.arrivals["depth"], trace, due)
