"""``ss3d_bench`` results: the targets checked against them, the spread over repeated node runs, the Markdown
tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from ss3d_ros.tools.bench.handoffs import SEGMENTS

# Targets of issue 25 (this 2-core machine with nothing else running, the deployed size), to hold in every node run.
NODE_30HZ_MIN_OUTPUT_HZ = 27.0
NODE_30HZ_MAX_P95_MS = 60.0
NODE_60HZ_MIN_OUTPUT_HZ = 27.0
NODE_60HZ_MAX_P95_MS = 80.0
NODE_15HZ_MAX_P95_MS = 40.0
# Frames without output that the node did not count as drops (lost before its callback): none at 60 Hz, and no
# frame without output at all at 15 Hz.
MAX_UNCOUNTED_DROPS = 0
NODE_15HZ_MAX_DROPS = 0
# Targets of issue 16 (this 2-core machine at the deployed size; an H100/H200-class GPU for TensorRT).
NODE_15HZ_MAX_P50_OVER_MODEL = 1.3
ONNXRUNTIME_MIN_SPEEDUP = 2.5
TENSORRT_FP16_MIN_FPS = 1000.0
TENSORRT_FP16_MAX_P99_MS = 3.0
TENSORRT_FP16_MIN_SPEEDUP_VS_TORCH_CUDA = 5.0


def bench_key(runtime_name: str) -> str:
    """Bench backend key of a runtime name reported by the node (``onnxruntime-cpu`` -> ``onnxruntime``,
    ``torch-cpu`` -> ``torch``; ``torch-cuda`` and ``tensorrt-fp16`` stay)."""
    if runtime_name.startswith(("tensorrt", "torch-cuda")):
        return runtime_name
    return runtime_name.split("-")[0]


def _target(value: float | None, limit: float, at_least: bool, unit: str) -> dict[str, Any]:
    met = None if value is None else (value >= limit if at_least else value <= limit)
    return {"value": value, "limit": f"{'>=' if at_least else '<='} {limit:g}{unit}", "met": met}


def uncounted_drops(row: dict[str, Any]) -> int:
    """Frames of one node run without an output that the node did not count as dropped (lost before its callback)."""
    return row["drops"] - int(row["node_drops"].get("drops_total", 0))


# Issue 25's node targets, each held by the worst run: (input Hz, name, a row's field or a function of the row,
# limit, whether the value must be at least the limit, unit).
NODE_TARGETS = (
    (30.0, "output Hz, lowest run", "output_hz", NODE_30HZ_MIN_OUTPUT_HZ, True, " Hz"),
    (30.0, "p95 latency, highest run", "p95_ms", NODE_30HZ_MAX_P95_MS, False, " ms"),
    (60.0, "output Hz, lowest run", "output_hz", NODE_60HZ_MIN_OUTPUT_HZ, True, " Hz"),
    (60.0, "p95 latency, highest run", "p95_ms", NODE_60HZ_MAX_P95_MS, False, " ms"),
    (60.0, "frames lost uncounted, most in a run", uncounted_drops, MAX_UNCOUNTED_DROPS, False, ""),
    (15.0, "frames without output, most in a run", "drops", NODE_15HZ_MAX_DROPS, False, ""),
    (15.0, "p95 latency, highest run", "p95_ms", NODE_15HZ_MAX_P95_MS, False, " ms"),
    (15.0, "p50 latency / model p50, highest run", "p50_vs_model_p50", NODE_15HZ_MAX_P50_OVER_MODEL, False, "x"),
)


def arm_label(pose_source: str, calibration_child: bool) -> str:
    """``"geometric"``, or ``"geometric + calibration child"`` for the runs beside the self-calibration child."""
    return f"{pose_source}{' + calibration child' if calibration_child else ''}"


def series_label(series: dict[str, Any]) -> str:
    """``"geometric, 30 Hz"`` or ``"geometric + calibration child, 30 Hz"``."""
    return f"{arm_label(series['pose_source'], series['calibration_child'])}, {series['rate_hz']:g} Hz"


def node_series(pose_source: str, rate_hz: float, calibration_child: bool) -> dict[str, Any]:
    """An empty series of node runs: one pose source at one input rate, beside the calibration child or not
    (``runs`` and ``spread`` filled by the benchmark)."""
    return {"pose_source": pose_source, "rate_hz": rate_hz, "calibration_child": calibration_child, "runs": [],
            "spread": None}


def node_spread(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"runs", "output_hz": {"min", "median", "max"}, "p95_ms": {...}}`` over the runs of one series (runs
    without a value are left out of that figure; ``None`` when no run has one)."""
    spread: dict[str, Any] = {"runs": len(rows)}
    for key in ("output_hz", "p95_ms"):
        values = [row[key] for row in rows if row[key] is not None]
        spread[key] = {"min": min(values), "median": float(np.median(values)), "max": max(values)} if values else None
    return spread


def children_ended_early(rows: list[dict[str, Any]]) -> int:
    """Runs of a series whose calibration child was not running from the start to the end of the run."""
    return sum(1 for row in rows if (row.get("calibration_child") or {}).get("ended_early"))


def _worst(rows: list[dict[str, Any]] | None, key: Any, lowest: bool) -> float | None:
    """The worst value of ``key`` (a field name or a function of a row) over the runs; ``None`` when unmeasured."""
    values = [key(row) if callable(key) else row[key] for row in rows or []]
    values = [v for v in values if v is not None]
    if not values or len(values) < len(rows or []):
        return None
    return min(values) if lowest else max(values)


def _node_targets(rows: dict[float, list[dict[str, Any]] | None], prefix: str) -> dict[str, dict[str, Any]]:
    """:data:`NODE_TARGETS` for one pose source (and arm) at the input rates in ``rows`` (``rows[rate]`` ``None``:
    not measured)."""
    return {f"node {hz:g} Hz, {prefix}: {name}": _target(_worst(rows[hz], key, at_least), limit, at_least, unit)
            for hz, name, key, limit, at_least, unit in NODE_TARGETS if hz in rows}


def evaluate_targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{target: {"value", "limit", "met"}}``; node targets take the worst run, for every pose source and arm (with
    and without the calibration child) at every input rate the run asked for (``report["node_settings"]``) that has
    one (issue 25: 15, 30, 60 Hz); ``met`` is ``None`` where the run did not measure it."""
    model = report.get("model", {})
    settings = report.get("node_settings") or {"pose_sources": [], "rates": [], "calibration_child": None}
    measured = {(s["pose_source"], float(s["rate_hz"]), s["calibration_child"]): s["runs"]
                for s in report.get("node") or []}
    arms = (False, True) if settings["calibration_child"] else (False,)
    targets: dict[str, dict[str, Any]] = {}
    for source in settings["pose_sources"]:
        for child in arms:
            rows = {float(hz): measured.get((source, float(hz), child)) for hz in settings["rates"]}
            targets.update(_node_targets(rows, arm_label(source, child)))
    ort = model.get("onnxruntime")
    targets["onnxruntime speed-up vs torch eager"] = _target(ort and ort["speedup_vs_torch"], ONNXRUNTIME_MIN_SPEEDUP,
                                                             True, "x")
    trt, torch_cuda = model.get("tensorrt-fp16"), model.get("torch-cuda")
    targets["tensorrt-fp16 fps"] = _target(trt and trt["fps"], TENSORRT_FP16_MIN_FPS, True, "")
    targets["tensorrt-fp16 p99"] = _target(trt and trt["p99_ms"], TENSORRT_FP16_MAX_P99_MS, False, " ms")
    speedup = trt and torch_cuda and torch_cuda["p50_ms"] / trt["p50_ms"]
    targets["tensorrt-fp16 speed-up vs torch-cuda fp32"] = _target(speedup, TENSORRT_FP16_MIN_SPEEDUP_VS_TORCH_CUDA,
                                                                   True, "x")
    return targets


def _num(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _child_cell(row: dict[str, Any]) -> str:
    record = row.get("calibration_child")
    if not record:
        return "–"
    if not record["ended_early"]:
        return "running throughout"
    reason = (record.get("summary") or {}).get("reason") or record.get("log_tail") or ""
    return f"**ended early** (exit {record['exit_code']}{': ' + reason if reason else ''})"


def _node_tables(node: list[dict[str, Any]]) -> list[str]:
    """Per-run rows with the hand-off medians, the slowest frames' hand-offs, and the spread per series."""
    with_child = any(series["calibration_child"] for series in node)
    child_header = " calibration child |" if with_child else ""
    segment_header = " | ".join(SEGMENTS)
    lines = ["", "| node: pose source, input Hz | run |" + child_header + " load | output Hz | p50 ms | p95 ms | no "
             "output / frames | counted by the node (stale) | lost before the callback | p50 / model p50 | "
             + segment_header + " |", "|---" * (10 + with_child + len(SEGMENTS)) + "|"]
    slow = ["", "Slowest 5 % of each run (end-to-end latency at or above its p95): mean ms per hand-off; the inference "
            "worker's CPU time over its wall time for those frames (and the median of all frames: under 1, the thread "
            "waited for a core; near 1, the core ran slower); the node's garbage-collector pauses during the run.", "",
            "| node: pose source, input Hz | run | slow frames | " + segment_header + " | worker CPU / wall (all "
            "frames) | GC pauses (total ms) |", "|---" * (5 + len(SEGMENTS)) + "|"]
    for series in node:
        label = series_label(series)
        for run, row in enumerate(series["runs"], 1):
            handoffs = row.get("handoffs") or {}
            segments = handoffs.get("segments_ms", {})
            medians = " | ".join(_num((segments.get(name) or {}).get("p50")) for name in SEGMENTS)
            counted = row["node_drops"].get("drops_total", 0)
            lost = (handoffs["frames_published"] - handoffs["frames_reaching_node"]) if handoffs else "–"
            child_cell = f" {_child_cell(row)} |" if with_child else ""
            lines.append(f"| {label} ({_num(row['input_hz'])}) | {run} |{child_cell} "
                         f"{row.get('load_average_start', '–')} | {_num(row['output_hz'])} | {_num(row['p50_ms'])} | "
                         f"{_num(row['p95_ms'])} | {row['drops']} / {row['frames']} | {counted} "
                         f"({row['node_drops'].get('drops_stale', 0)}) | {lost} | "
                         f"{_num(row.get('p50_vs_model_p50'), 2)} | {medians} |")
            if handoffs:
                means = " | ".join(_num(handoffs["slow_frames_mean_ms"][name]) for name in SEGMENTS)
                pauses = [v for k, v in handoffs["gc"].items() if k.startswith("generation_")]
                gc_text = f"{sum(p['count'] for p in pauses)} ({_num(sum(p['total_ms'] for p in pauses))})"
                share = handoffs["worker_cpu_over_wall"]
                slow.append(f"| {label} | {run} | {handoffs['slow_frames']} | {means} | "
                            f"{_num(share['slow_frames_mean'], 2)} ({_num(share['p50'], 2)}) | {gc_text} |")
    backend = next((s["runs"][0]["backend"] for s in node if s["runs"]), "–")
    lines.append(f"\nNode backend: {backend}; hand-off columns are medians (ms) from the node's frame trace joined "
                 "with the player's publish and the recorder's arrival times (ss3d_ros/tools/bench/handoffs.py); "
                 "load is the 1-minute load average before the run."
                 + (" Calibration child: the node's self-calibration child (ss3d_calibrate, niceness 19, one thread) "
                    "started right before the run and killed after it; \"ended early\": it was not running from the "
                    "start to the end of the run." if with_child else ""))
    lines += slow
    child_header = " calibration child ended early |" if with_child else ""
    lines += ["", "| node: pose source, input Hz | runs |" + child_header
              + " output Hz min / median / max | p95 ms min / median / max |", "|---" * (4 + with_child) + "|"]
    for series in node:
        figures = series["spread"] or node_spread(series["runs"])
        cells = []
        for key in ("output_hz", "p95_ms"):
            value = figures[key]
            cells.append("–" if value is None else " / ".join(_num(value[k]) for k in ("min", "median", "max")))
        child_cell = f" {children_ended_early(series['runs'])} |" if with_child else ""
        lines.append(f"| {series_label(series)} | {figures['runs']} |{child_cell} {cells[0]} | {cells[1]} |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The model table (both sizes), the node tables (every run, the slowest frames, the spread), and the targets."""
    lines = [f"Machine: {report['machine']['description']}; load average at start / end "
             f"{report['machine']['load_average_start']} / {report['machine']['load_average_end']}; "
             f"inference threads {report['threads'] or 'runtime default'}.", "",
             "| model only | input | fps | p50 ms | p95 ms | p99 ms | × torch eager (p50) | parity: depth rel. max, "
             "pose, K |", "|---|---|---|---|---|---|---|---|"]
    for name, figures in report["model"].items():
        for row in (figures, figures.get("at_2x")):
            if not row:
                continue
            parity = row.get("parity")
            parity_text = "reference" if name == "torch" else "–" if not parity else (
                f"{parity['depth_rel_max']:.1e}, {parity['pose_abs_max']:.1e}, {parity['intrinsics_abs_max']:.1e}")
            lines.append(f"| {name} | {row['input']} | {_num(row['fps'])} | {_num(row['p50_ms'])} | "
                         f"{_num(row['p95_ms'])} | {_num(row['p99_ms'])} | {_num(row['speedup_vs_torch'], 2)} | "
                         f"{parity_text} |")
    for name, reason in report.get("model_unavailable", {}).items():
        lines.append(f"| {name} | not measured: {reason} | | | | | | |")
    if report.get("node"):
        lines += _node_tables(report["node"])
    lines += ["", "| target | value | limit | met |", "|---|---|---|---|"]
    for name, target in report.get("targets", {}).items():
        value = target["value"]
        met = "not measured" if target["met"] is None else "yes" if target["met"] else "**no**"
        lines.append(f"| {name} | {_num(value, 2) if value is not None else '–'} | {target['limit']} | {met} |")
    return "\n".join(lines) + "\n"
