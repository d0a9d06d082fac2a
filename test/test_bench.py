"""``ss3d_bench``: the report's structure, ratios and targets (no timing is asserted: figures come from the
benchmark's own run, never from a test)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from ss3d_core.benchmark.model_latency import measure_models, scaled_network
from ss3d_core.checkpoint import load_checkpoint
from ss3d_core.estimator.geometric_pose import POSE_SOURCES
from ss3d_ros.tools.bench.cli import build_parser, main, resolve_pose_sources
from ss3d_ros.tools.bench.handoffs import SEGMENTS, handoff_breakdown
from ss3d_ros.tools.bench.report import (
    bench_key,
    children_ended_early,
    evaluate_targets,
    markdown,
    node_series,
    node_spread,
)


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


def _node_row(hz: str, output_hz: float, p95_ms: float, drops: int, counted: int, child: dict | None = None) -> dict:
    return {"input_hz": float(hz), "output_hz": output_hz, "p50_ms": 12.0, "p95_ms": p95_ms, "drops": drops,
            "frames": 100, "node_drops": {"drops_total": counted, "drops_stale": counted},
            "load_average_start": 0.1, "backend": "onnxruntime-cpu", "p50_vs_model_p50": 1.2,
            "p50_vs_torch_model_p50": 0.4, "stages_p50_ms": {"inference": 9.0, "publishing": None}, "handoffs": None,
            "calibration_child": child}


def _series(source: str, hz: float, rows: list[dict], child: bool = False) -> dict:
    return {**node_series(source, hz, child), "runs": rows, "spread": node_spread(rows)}


def test_targets_take_the_worst_run_per_pose_source_and_tables_show_every_run_and_the_spread():
    row = {"fps": 100.0, "p50_ms": 10.0, "p95_ms": 12.0, "p99_ms": 13.0, "input": "224x128"}
    node = [_series("network", 15, [_node_row("15", 15.0, 30.0, 0, 0), _node_row("15", 15.0, 35.0, 0, 0)]),
            _series("network", 30, [_node_row("30", 29.0, 40.0, 3, 3), _node_row("30", 26.0, 50.0, 20, 20)]),
            _series("network", 60, [_node_row("60", 40.0, 70.0, 80, 80), _node_row("60", 45.0, 60.0, 70, 68)]),
            _series("geometric", 30, [_node_row("30", 28.0, 55.0, 3, 3), _node_row("30", 27.5, 58.0, 5, 5)])]
    report = {
        "machine": {"description": "test", "load_average_start": 1.0, "load_average_end": 1.0}, "threads": 1,
        "model": {"torch": {**row, "speedup_vs_torch": 1.0, "p50_ms": 30.0},
                  "onnxruntime": {**row, "speedup_vs_torch": 3.0, "parity": {"depth_rel_max": 1e-7,
                                                                             "pose_abs_max": 1e-8,
                                                                             "intrinsics_abs_max": 1e-8}}},
        "model_unavailable": {"tensorrt-fp16": "no CUDA device is visible"},
        "node_settings": {"pose_sources": ["network", "geometric"], "rates": [15, 30, 60], "calibration_child": None},
        "node": node,
    }
    assert node[1]["spread"] == {"runs": 2, "output_hz": {"min": 26.0, "median": 27.5, "max": 29.0},
                                 "p95_ms": {"min": 40.0, "median": 45.0, "max": 50.0}}
    targets = evaluate_targets(report)
    assert targets["node 30 Hz, network: output Hz, lowest run"] == {"value": 26.0, "limit": ">= 27 Hz", "met": False}
    assert targets["node 30 Hz, network: p95 latency, highest run"]["met"] is True
    assert targets["node 30 Hz, geometric: output Hz, lowest run"] == {"value": 27.5, "limit": ">= 27 Hz",
                                                                       "met": True}
    assert targets["node 30 Hz, geometric: p95 latency, highest run"]["value"] == 58.0
    assert targets["node 60 Hz, network: frames lost uncounted, most in a run"] == {"value": 2, "limit": "<= 0",
                                                                                   "met": False}
    assert targets["node 15 Hz, network: frames without output, most in a run"]["met"] is True
    assert targets["node 15 Hz, network: p95 latency, highest run"]["value"] == 35.0
    assert targets["node 15 Hz, geometric: p95 latency, highest run"]["met"] is None  # asked for, not measured
    assert not any("calibration child" in name for name in targets)  # no child arm asked for
    assert targets["onnxruntime speed-up vs torch eager"]["met"] is True
    assert targets["tensorrt-fp16 fps"]["met"] is None
    node[2]["runs"][1]["p95_ms"] = None  # a run without a figure: the target is not measured, not met by the others
    assert evaluate_targets(report)["node 60 Hz, network: p95 latency, highest run"]["met"] is None
    report["targets"] = targets
    table = markdown(report)
    assert "| onnxruntime | 224x128 | 100.0 | 10.0 |" in table and "not measured: no CUDA device" in table
    assert "| network, 30 Hz (30.0) | 2 | 0.1 | 26.0 | 12.0 | 50.0 | 20 / 100 | 20 (20) | – |" in table
    assert "| network, 30 Hz | 2 | 26.0 / 27.5 / 29.0 | 40.0 / 45.0 / 50.0 |" in table and "**no**" in table
    assert "| geometric, 30 Hz | 2 | 27.5 / 27.8 / 28.0 | 55.0 / 56.5 / 58.0 |" in table
    assert "calibration child" not in table
    assert bench_key("onnxruntime-cpu") == "onnxruntime" and bench_key("torch-cpu") == "torch"
    assert bench_key("tensorrt-fp16") == "tensorrt-fp16" and bench_key("torch-cuda") == "torch-cuda"


def test_runs_beside_the_calibration_child_are_an_arm_of_their_own_and_an_early_end_is_shown():
    running = {"pid": 1, "alive_at_start": True, "alive_at_end": True, "ended_early": False, "exit_code": None,
               "summary": None, "log_tail": None}
    ended = {**running, "alive_at_end": False, "ended_early": True, "exit_code": 3,
             "summary": {"status": "refused", "reason": "too little motion"}, "log_tail": "refused"}
    node = [_series("geometric", 30, [_node_row("30", 29.0, 50.0, 2, 2)]),
            _series("geometric", 30, [_node_row("30", 26.0, 70.0, 30, 30, running),
                                      _node_row("30", 28.0, 55.0, 5, 5, ended)], child=True)]
    report = {"machine": {"description": "test", "load_average_start": 1.0, "load_average_end": 1.0}, "threads": 1,
              "model": {}, "node": node,
              "node_settings": {"pose_sources": ["geometric"], "rates": [30], "calibration_child": "frames/"}}
    targets = evaluate_targets(report)
    assert targets["node 30 Hz, geometric: output Hz, lowest run"]["met"] is True
    assert targets["node 30 Hz, geometric + calibration child: output Hz, lowest run"] == {
        "value": 26.0, "limit": ">= 27 Hz", "met": False}
    assert targets["node 30 Hz, geometric + calibration child: p95 latency, highest run"]["value"] == 70.0
    assert children_ended_early(node[1]["runs"]) == 1
    report["targets"] = targets
    table = markdown(report)
    assert "| geometric + calibration child, 30 Hz (30.0) | 1 | running throughout | 0.1 | 26.0 |" in table
    assert "**ended early** (exit 3: too little motion)" in table
    assert "| geometric + calibration child, 30 Hz | 2 | 1 | 26.0 / 27.0 / 28.0 | 55.0 / 62.5 / 70.0 |" in table
    assert "| geometric, 30 Hz | 1 | 0 | 29.0 / 29.0 / 29.0 |" in table


def _traced_frame(stamp: int, received: float, inference_ms: float) -> dict:
    return {"stamp_ns": stamp, "outcome": "published", "received": received, "picked_up": received + 0.001,
            "converted": received + 0.002, "estimating": received + 0.002, "preprocess_ms": 1.0,
            "inference_ms": inference_ms, "postprocess_ms": 1.0, "depth_publish": received + 0.004 + inference_ms / 1e3,
            "published": received + 0.005 + inference_ms / 1e3, "worker_cpu_ms": 2.0 + inference_ms}


def test_handoff_breakdown_splits_each_frame_and_finds_where_the_slow_ones_wait():
    """20 frames published 10 ms apart; frame 19 waits 50 ms in DDS, frame 18 is stale, frame 17 never reaches the
    node; a GC pause happens while frame 19 is in flight."""
    published = {i: i * 0.010 for i in range(20)}
    frames = [_traced_frame(i, published[i] + (0.050 if i == 19 else 0.001), 9.0) for i in range(17)]
    frames += [{"stamp_ns": 18, "outcome": "stale", "received": 0.181}, _traced_frame(19, 0.240, 9.0)]
    arrivals = {f["stamp_ns"]: f["depth_publish"] + 0.0005 for f in frames if f["outcome"] == "published"}
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
    assert result["worker_cpu_over_wall"]["p50"] == pytest.approx(11.0 / 13.0)  # 13 ms from pick-up to publish


def test_ss3d_bench_end_to_end_runs_the_node_once_per_pose_source(tmp_path, tiny_checkpoint, capsys):
    """One round at one rate (every node run costs a node start): both pose sources by default, in turn."""
    output = tmp_path / "bench.json"
    code = main(["--checkpoint", str(tiny_checkpoint), "--output", str(output), "--frames", "2",
                 "--backends", "torch", "onnxruntime", "--threads", "1", "--node-backend", "onnxruntime",
                 "--rates", "30", "--node-frames", "6", "--repeat", "1"])
    assert code == 0
    report = json.loads(output.read_text())
    for name in ("torch", "onnxruntime"):
        assert set(report["model"][name]) >= {"fps", "p50_ms", "p95_ms", "speedup_vs_torch"}
        assert report["model"][name]["at_2x"]["input"] == "192x128"
    assert [(s["pose_source"], s["rate_hz"], s["calibration_child"]) for s in report["node"]] == [
        (source, 30.0, False) for source in POSE_SOURCES]
    for series in report["node"]:
        assert len(series["runs"]) == 1 and series["spread"]["runs"] == 1
        for run in series["runs"]:
            assert set(run) >= {"output_hz", "p50_ms", "p95_ms", "drops", "load_average_start"} and run["frames"] == 6
            assert run["backend"] == "onnxruntime-cpu" and "inference" in run["stages_p50_ms"]
            assert run["pose_source"] == series["pose_source"] and run["calibration_child"] is None
            assert run["handoffs"]["frames_published"] == 6 and set(run["handoffs"]["segments_ms"]) == set(SEGMENTS)
        assert (tmp_path / f"node_{series['pose_source']}_30hz" / "run1" / "node_trace.json").is_file()
    assert f"node 30 Hz, {POSE_SOURCES[-1]}: output Hz, lowest run" in report["targets"]
    assert output.with_suffix(".md").read_text() in capsys.readouterr().out


def test_pose_source_parameter_is_the_same_as_pose_sources_and_both_together_are_refused():
    parser = build_parser()
    args = parser.parse_args(["-p", "pose_source:=geometric", "-p", "metric_scale:=1.0"])
    assert resolve_pose_sources(args) == ["geometric"] and args.param == ["metric_scale:=1.0"]
    assert resolve_pose_sources(parser.parse_args([])) == list(POSE_SOURCES)
    assert resolve_pose_sources(parser.parse_args(["--pose-sources", "geometric", "geometric"])) == ["geometric"]
    for bad, message in ((["-p", "pose_source:=network", "--pose-sources", "geometric"], "both given"),
                         (["-p", "pose_source:=sift"], "not one of"),
                         (["-p", "pose_source:=network", "-p", "pose_source:=geometric"], "different values")):
        with pytest.raises(ValueError, match=message):
            resolve_pose_sources(parser.parse_args(bad))


def test_calibration_child_without_pycolmap_or_frames_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from ss3d_ros.tools.bench import calibration_child

    assert main(["--calibration-child", str(tmp_path / "missing"), "--backends", "torch", "--frames", "1"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--calibration-child" in line and "missing" in line
    monkeypatch.setattr(calibration_child, "colmap_available", lambda: (False, "pycolmap is not installed"))
    assert main(["--calibration-child", str(tmp_path), "--backends", "torch", "--frames", "1"]) == 2
    assert capsys.readouterr().err.strip() == ("ss3d_bench: --calibration-child needs pycolmap: pycolmap is not "
                                               "installed")


def test_the_background_child_is_the_nodes_own_command_and_is_stopped_with_what_it_started(tmp_path, monkeypatch):
    """The bench's child is the node's command line (niceness 19, one thread); a child that ends before the run does is
    reported as such; stopping it also ends a process it started (COLMAP runs in a grandchild)."""
    from ss3d_core.calibration import online
    from ss3d_ros.tools.bench.calibration_child import BackgroundCalibration

    commands = []
    grandchild = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(60)']); open({str(grandchild)!r}, 'w').write(str(p.pid)); time.sleep(60)")

    def command(*args):
        commands.append(online.child_command(*args))
        return [sys.executable, "-c", script]

    monkeypatch.setattr("ss3d_ros.tools.bench.calibration_child.child_command", command)
    child = BackgroundCalibration(tmp_path / "frames", tmp_path / "child")
    child.start()
    assert child.mark_run_start()
    deadline = time.monotonic() + 20
    while not grandchild.is_file() or not grandchild.read_text():
        assert time.monotonic() < deadline and child.alive()
        time.sleep(0.05)
    record = child.stop()
    assert record["alive_at_start"] and record["alive_at_end"] and not record["ended_early"]
    assert _gone(int(grandchild.read_text()))
    [argv] = commands
    assert argv[argv.index("--nice") + 1] == str(online.CHILD_NICENESS) == "19"
    assert argv[argv.index("--threads") + 1] == str(online.CHILD_THREADS) == "1"
    assert argv[argv.index("--frames") + 1] == str(tmp_path / "frames")
    # A child that ends before the run does.
    monkeypatch.setattr("ss3d_ros.tools.bench.calibration_child.child_command",
                        lambda *_: [sys.executable, "-c", "import sys; print('bye'); sys.exit(3)"])
    child.start()
    child._child.wait()
    record = child.stop()
    assert record["ended_early"] and record["exit_code"] == 3 and record["log_tail"] == "bye"


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("bad", [["--rates", "0"], ["--frames", "0"], ["--node-frames", "1"], ["--repeat", "0"]])
def test_bad_arguments_exit_2(bad):
    with pytest.raises(SystemExit) as exc:
        main(bad)
    assert exc.value.code == 2
