"""``ss3d_bench``: the report's structure, ratios and targets (no timing is asserted: figures come from the
benchmark's own run, never from a test)."""

from __future__ import annotations

import json

import pytest

from ss3d_core.benchmark.model_latency import measure_models, scaled_network
from ss3d_core.checkpoint import load_checkpoint
from ss3d_ros.tools.bench.cli import main
from ss3d_ros.tools.bench.handoffs import SEGMENTS, handoff_breakdown
from ss3d_ros.tools.bench.report import bench_key, evaluate_targets, markdown


def test_model_latency_reports_ratios_parity_and_what_cannot_run(tiny_checkpoint, sample_frames):
    model, metadata = load_checkpoint(tiny_checkpoint)
    result = measure_models(model, metadata, sample_frames, ["torch", "onnxruntime", "tensorrt-fp16"], scale=2,
                            iterations=3, num_threads=1)
    assert result["input"] == "192x128"
    torch_row, ort_row = result["backends"]["torch"], result["backends"]["onnxruntime"]
    assert torch_row["speedup_vs_torch"] == 1.0 and "parity" not in torch_row
    assert ort_row["speedup_vs_torch"] == pytest.approx(torch_row["p50_ms"] / ort_row["p50_ms"])
    assert ort_row["parity"]["depth_rel_max"] < 1e-3
    assert set(ort_row) >= {"fps", "p50_ms", "p95_ms", "p99_ms"}
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        assert "CUDA" in result["unavailable"]["tensorrt-fp16"]
    with pytest.raises(ValueError, match="baseline"):
        measure_models(model, metadata, sample_frames, ["onnxruntime"], iterations=1)
    with pytest.raises(ValueError):
        scaled_network(model, 0)


def test_targets_and_tables_from_a_report():
    row = {"fps": 100.0, "p50_ms": 10.0, "p95_ms": 12.0, "p99_ms": 13.0, "input": "224x128"}
    report = {
        "machine": {"description": "test", "load_average_start": 1.0, "load_average_end": 1.0}, "threads": 1,
        "model": {"torch": {**row, "speedup_vs_torch": 1.0, "p50_ms": 30.0},
                  "onnxruntime": {**row, "speedup_vs_torch": 3.0, "parity": {"depth_rel_max": 1e-7,
                                                                             "pose_abs_max": 1e-8,
                                                                             "intrinsics_abs_max": 1e-8}}},
        "model_unavailable": {"tensorrt-fp16": "no CUDA device is visible"},
        "node": {hz: {"input_hz": float(hz), "output_hz": 21.0, "p50_ms": 12.0, "p95_ms": 90.0, "drops": 3,
                      "frames": 100, "backend": "onnxruntime-cpu", "p50_vs_model_p50": 1.2,
                      "p50_vs_torch_model_p50": 0.4, "stages_p50_ms": {"inference": 9.0, "publishing": None}}
                 for hz in ("15", "30", "60")},
    }
    targets = evaluate_targets(report)
    assert targets["node 30 Hz: output Hz"]["met"] is True and targets["node 30 Hz: p95 latency"]["met"] is False
    assert targets["onnxruntime speed-up vs torch eager"]["met"] is True
    assert targets["tensorrt-fp16 fps"]["met"] is None
    report["targets"] = targets
    table = markdown(report)
    assert "| onnxruntime | 224x128 | 100.0 | 10.0 |" in table and "not measured: no CUDA device" in table
    assert "| 30 (30.0) | 21.0 | 12.0 | 90.0 | 3 / 100 |" in table and "**no**" in table
    assert bench_key("onnxruntime-cpu") == "onnxruntime" and bench_key("torch-cpu") == "torch"
    assert bench_key("tensorrt-fp16") == "tensorrt-fp16" and bench_key("torch-cuda") == "torch-cuda"


def _traced_frame(stamp: int, received: float, inference_ms: float) -> dict:
    return {"stamp_ns": stamp, "outcome": "published", "received": received, "picked_up": received + 0.001,
            "converted": received + 0.002, "estimating": received + 0.002, "preprocess_ms": 1.0,
            "inference_ms": inference_ms, "postprocess_ms": 1.0, "depth_sent": received + 0.004 + inference_ms * 1e-3,
            "published": received + 0.005 + inference_ms * 1e-3}


def test_handoff_breakdown_splits_each_frame_and_finds_where_the_slow_ones_wait():
    """20 frames published 10 ms apart; frame 19 waits 50 ms in DDS, frame 18 is stale, frame 17 never reaches the
    node; a GC pause happens while frame 19 is in flight."""
    published = {i: i * 0.010 for i in range(20)}
    frames = [_traced_frame(i, published[i] + (0.050 if i == 19 else 0.001), 9.0) for i in range(17)]
    frames += [{"stamp_ns": 18, "outcome": "stale", "received": 0.181}, _traced_frame(19, 0.240, 9.0)]
    arrivals = {f["stamp_ns"]: f["depth_sent"] + 0.0005 for f in frames if f["outcome"] == "published"}
    trace = {"frames": frames, "gc_pauses": [{"start": 0.200, "duration_ms": 3.0, "generation": 0, "collected": 5},
                                             {"start": 99.0, "duration_ms": 40.0, "generation": 2, "collected": 0}]}
    due = {i: i * 0.010 - (0.002 if i == 5 else 0.0) for i in range(20)}
    result = handoff_breakdown(published, arrivals, trace, due)
    assert result["frames_published"] == 20 and result["frames_reaching_node"] == 19
    assert result["outcomes"] == {"published": 18, "stale": 1}
    segments = result["segments_ms"]
    assert list(segments) == list(SEGMENTS)
    assert segments["transport_in"]["p50"] == pytest.approx(1.0)
    assert segments["transport_in"]["max"] == pytest.approx(50.0)
    assert segments["mailbox"]["p50"] == pytest.approx(1.0) and segments["inference"]["p50"] == 9.0
    assert segments["node_other"]["p50"] == pytest.approx(0.0, abs=1e-9)
    assert segments["transport_out"]["p50"] == pytest.approx(0.5)
    assert result["slow_frames"] == 1 and result["slow_frames_mean_ms"]["transport_in"] == pytest.approx(50.0)
    assert result["gc"] == {"generation_0": {"count": 1, "total_ms": 3.0, "max_ms": 3.0},
                            "slow_frames_during_a_pause": 1}  # the pause outside the run is not counted
    assert result["player_late_ms"]["max"] == pytest.approx(2.0)


def test_ss3d_bench_end_to_end_writes_json_and_markdown(tmp_path, tiny_checkpoint, capsys):
    output = tmp_path / "bench.json"
    code = main(["--checkpoint", str(tiny_checkpoint), "--output", str(output), "--frames", "2",
                 "--backends", "torch", "onnxruntime", "--threads", "1", "--node-backend", "onnxruntime",
                 "--rates", "30", "--node-frames", "6"])
    assert code == 0
    report = json.loads(output.read_text())
    for name in ("torch", "onnxruntime"):
        assert set(report["model"][name]) >= {"fps", "p50_ms", "p95_ms", "speedup_vs_torch"}
        assert report["model"][name]["at_2x"]["input"] == "192x128"
    node = report["node"]["30"]
    assert set(node) >= {"output_hz", "p50_ms", "p95_ms", "drops"} and node["frames"] == 6
    assert node["backend"] == "onnxruntime-cpu" and "inference" in node["stages_p50_ms"]
    assert node["handoffs"]["frames_published"] == 6 and set(node["handoffs"]["segments_ms"]) == set(SEGMENTS)
    assert output.with_suffix(".md").read_text() in capsys.readouterr().out


@pytest.mark.parametrize("bad", [["--rates", "0"], ["--frames", "0"], ["--node-frames", "1"]])
def test_bad_arguments_exit_2(bad):
    with pytest.raises(SystemExit) as exc:
        main(bad)
    assert exc.value.code == 2
