"""Build ``diagnostic_msgs/DiagnosticArray`` from :class:`~ss3d_ros.stream_stats.StreamStats` snapshots."""

from __future__ import annotations

import math
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def diagnostic_status(
    node_name: str,
    snapshot: dict[str, Any],
    backend: str,
    state: str,
    new_drops: int,
) -> DiagnosticStatus:
    """One status: OK while frames flow, WARN when frames were dropped since the last report or inputs arrive but
    nothing is published, ERROR when not active (no model loaded).

    Args:
        node_name: fully qualified node name (``name`` of the status).
        snapshot: :meth:`StreamStats.snapshot` output.
        backend: inference runtime name.
        state: lifecycle state label (``active``, ``inactive``, ``unconfigured``).
        new_drops: frames dropped since the previous report.
    """
    status = DiagnosticStatus(name=f"{node_name}: monocular 3D", hardware_id=backend or "none")
    if state != "active":
        status.level, status.message = DiagnosticStatus.ERROR, f"node {state}: no estimates are produced"
    elif new_drops:
        status.level, status.message = DiagnosticStatus.WARN, f"{new_drops} frame(s) dropped since last report"
    elif snapshot["input_rate_hz"] > 0 and snapshot["output_rate_hz"] == 0:
        status.level, status.message = DiagnosticStatus.WARN, "images arrive but nothing is published"
    else:
        status.level, status.message = DiagnosticStatus.OK, "running"
    values = {
        "backend": backend,
        "state": state,
        "input_rate_hz": snapshot["input_rate_hz"],
        "output_rate_hz": snapshot["output_rate_hz"],
        "latency_p50_ms": snapshot["latency_p50_ms"],
        "latency_p95_ms": snapshot["latency_p95_ms"],
        "inference_p50_ms": snapshot["inference_p50_ms"],
        "image_publishers": snapshot.get("image_publishers", 0),
        "frames_in": snapshot["frames_in"],
        "frames_out": snapshot["frames_out"],
        "drops_total": snapshot["drops_total"],
    }
    values.update({f"stage_{name}_p50_ms": ms for name, ms in snapshot.get("stage_p50_ms", {}).items()})
    values.update({f"drops_{reason}": count for reason, count in sorted(snapshot["drops"].items())})
    values.update({f"events_{name}": count for name, count in sorted(snapshot["events"].items())})
    values.update(snapshot.get("calibration", {}))  # self_calibrate's state (ss3d_core.calibration.online)
    status.values = [KeyValue(key=k, value=_fmt(v)) for k, v in values.items()]
    return status


def diagnostic_array(stamp: Any, status: DiagnosticStatus) -> DiagnosticArray:
    """Wrap one status with a header stamp."""
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array
