"""``ss3d_bench`` results: the issue-16 targets checked against them, and the Markdown tables."""

from __future__ import annotations

from typing import Any

# Targets of issue 16 (this 2-core machine at the deployed size; an H100/H200-class GPU for TensorRT).
NODE_30HZ_MIN_OUTPUT_HZ = 20.0
NODE_30HZ_MAX_P95_MS = 80.0
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


def evaluate_targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{target: {"value", "limit", "met"}}``; ``met`` is ``None`` where the run did not measure it."""
    model, node = report.get("model", {}), report.get("node", {})
    targets: dict[str, dict[str, Any]] = {}
    at30, at15 = node.get("30"), node.get("15")
    targets["node 30 Hz: output Hz"] = _target(at30 and at30["output_hz"], NODE_30HZ_MIN_OUTPUT_HZ, True, " Hz")
    targets["node 30 Hz: p95 latency"] = _target(at30 and at30["p95_ms"], NODE_30HZ_MAX_P95_MS, False, " ms")
    targets["node 15 Hz: p50 latency / model p50"] = _target(at15 and at15.get("p50_vs_model_p50"),
                                                             NODE_15HZ_MAX_P50_OVER_MODEL, False, "x")
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


def markdown(report: dict[str, Any]) -> str:
    """The model table (both sizes), the node table with its stage breakdown, and the targets."""
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
        stage_names = list(next(iter(report["node"].values()))["stages_p50_ms"])
        lines += ["", "| node, input Hz | output Hz | p50 ms | p95 ms | drops / frames | p50 / model p50 | "
                  "p50 / torch eager p50 | " + " | ".join(stage_names) + " |",
                  "|---" * (7 + len(stage_names)) + "|"]
        for hz, row in report["node"].items():
            stages = " | ".join(_num(row["stages_p50_ms"][name]) for name in stage_names)
            lines.append(f"| {hz} ({_num(row['input_hz'])}) | {_num(row['output_hz'])} | {_num(row['p50_ms'])} | "
                         f"{_num(row['p95_ms'])} | {row['drops']} / {row['frames']} | "
                         f"{_num(row.get('p50_vs_model_p50'), 2)} | {_num(row.get('p50_vs_torch_model_p50'), 2)} | "
                         f"{stages} |")
        lines.append(f"\nNode backend: {next(iter(report['node'].values()))['backend']}; stage columns are the "
                     "node's own medians (ms); transport_and_executor = end-to-end p50 minus their sum.")
    lines += ["", "| target | value | limit | met |", "|---|---|---|---|"]
    for name, target in report.get("targets", {}).items():
        value = target["value"]
        met = "not measured" if target["met"] is None else "yes" if target["met"] else "**no**"
        lines.append(f"| {name} | {_num(value, 2) if value is not None else '–'} | {target['limit']} | {met} |")
    return "\n".join(lines) + "\n"
