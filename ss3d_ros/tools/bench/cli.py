"""``ss3d_bench``: model-only latency per backend and the node end to end over DDS, in one run.

    ss3d_bench [--output out/bench/bench.json] [--repeat N] [--pose-sources network geometric]
               [--calibration-child FRAMES_DIR]

1. Model only: every backend that runs here (torch eager, ONNX Runtime, and on a CUDA machine torch-cuda and
   TensorRT FP16/FP32) on the same real frames, at the deployed input size and at 2× it; fps, p50/p95/p99 latency,
   speed-up against torch eager in the same run, and parity errors against it.
2. The node, ``--repeat`` rounds: a fresh ``ss3d`` process per input rate (15, 30, 60 Hz) and per pose source
   (``--pose-sources``, the node's ``pose_source``; default both) fed the bundled 960×540 dashcam clip over DDS; the
   rates and the sources take turns in each round, so that load from other processes hits them alike. Output rate,
   latency p50/p95, frames without output (counted by the node or lost before its callback), and where each frame's
   time went, hand-off by hand-off (the node's frame trace); then the spread over the runs (min, median, max of the
   output rate and the p95 latency per pose source and input rate). One good run is not a result.
   ``-p pose_source:=X`` is the same as ``--pose-sources X``; giving both is an error.
3. With ``--calibration-child FRAMES_DIR``, every node run is also done beside the node's self-calibration child
   (issue 35): the node's own command (``ss3d_core.calibration.online.child_command``: ``ss3d_calibrate --frames``,
   niceness 19, one thread, COLMAP's time limit) on the key frames in FRAMES_DIR (e.g. a sequence's ``rgb``
   folder), started right before the run, checked running when the run starts and when it ends (a run where it had
   ended is marked "ended early"), killed after it. Runs with and without it take turns in each round; the tables
   and targets are per arm. Needs pycolmap.

Writes ``bench.json`` and ``bench.md`` (the tables) and prints the tables. Absolute figures depend on what else runs
on the machine (the load average before every node run is recorded); ratios within the run are the comparable
figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Any

from ss3d_core.estimator.geometric_pose import POSE_SOURCES
from ss3d_ros.tools.share_files import SAMPLE_VIDEO

LOG = logging.getLogger("ss3d_bench")
DEFAULT_BACKENDS = ("torch", "onnxruntime", "torch-cuda", "tensorrt-fp16", "tensorrt-fp32")
DEFAULT_RATES = (15, 30, 60)
POSE_SOURCE_PARAM = "pose_source"


def build_parser() -> argparse.ArgumentParser:
    """The ``ss3d_bench`` argument parser."""
    from ss3d_core.backends.base import default_num_threads

    parser = argparse.ArgumentParser(prog="ss3d_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="SS3D checkpoint (default: the bundled one)")
    parser.add_argument("--output", type=Path, default=Path("out/bench/bench.json"),
                        help="JSON path; the Markdown table goes next to it as .md (default out/bench/bench.json)")
    parser.add_argument("--backends", nargs="+", default=list(DEFAULT_BACKENDS),
                        help="model-only backends (those that cannot run here are listed as such)")
    parser.add_argument("--frames", type=int, default=100, help="timed frames per backend and size (default 100)")
    parser.add_argument("--threads", type=int, default=default_num_threads(),
                        help="inference threads of every backend and of the node (default: the node's default here, "
                             "%(default)s)")
    parser.add_argument("--node-backend", default="auto", help="backend of the benchmarked node (default auto)")
    parser.add_argument("--rates", type=float, nargs="+", default=list(DEFAULT_RATES),
                        help="node input rates, Hz (default 15 30 60)")
    parser.add_argument("--node-frames", type=int, default=None, help="frames per node run (default: the whole clip)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="node runs per input rate, reported each and as their spread (default 1)")
    parser.add_argument("--pose-sources", nargs="+", choices=POSE_SOURCES, default=None,
                        help="the node's pose_source in turn, one node run each per rate and round (default: "
                             f"{' '.join(POSE_SOURCES)}; -p pose_source:=X means --pose-sources X)")
    parser.add_argument("--calibration-child", type=Path, metavar="FRAMES_DIR",
                        help="also do every node run beside the node's self-calibration child (ss3d_calibrate, "
                             "niceness 19, one thread) running on the key frames in FRAMES_DIR; needs pycolmap")
    parser.add_argument("--no-node", action="store_true", help="model-only figures")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter, repeatable")
    return parser


def resolve_pose_sources(args: argparse.Namespace) -> list[str]:
    """The pose sources to benchmark, in order and without repeats: ``--pose-sources``, or the value of a
    ``-p pose_source:=X`` (taken out of ``args.param``: each run sets its own), or all of
    :data:`~ss3d_core.estimator.geometric_pose.POSE_SOURCES`.

    Raises:
        ValueError: both given, two different ``-p pose_source`` values, or a value that is not a pose source.
    """
    given = [value.strip() for name, _, value in (p.partition(":=") for p in args.param)
             if name.strip() == POSE_SOURCE_PARAM]
    args.param = [p for p in args.param if p.partition(":=")[0].strip() != POSE_SOURCE_PARAM]
    if given and args.pose_sources is not None:
        raise ValueError("-p pose_source:=... and --pose-sources both given: use --pose-sources alone")
    if len(set(given)) > 1:
        raise ValueError(f"-p pose_source given twice with different values ({', '.join(given)}): use "
                         "--pose-sources to benchmark several")
    for value in given:
        if value not in POSE_SOURCES:
            raise ValueError(f"-p pose_source:={value}: not one of {', '.join(POSE_SOURCES)}")
    return list(dict.fromkeys(given or args.pose_sources or POSE_SOURCES))


def _machine() -> dict[str, Any]:
    return {"description": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs "
                           f"({platform.node()})".replace("  ", " "),
            "cpu_count": os.cpu_count(), "load_average_start": round(os.getloadavg()[0], 2)}


def run_model(args: argparse.Namespace) -> dict[str, Any]:
    """Model-only figures at 1× and 2× the deployed size, keyed by backend (2×: ``at_2x``)."""
    from ss3d_core.benchmark.model_latency import measure_models
    from ss3d_core.checkpoint import bundled_checkpoint, load_checkpoint
    from ss3d_core.io.video import iter_video_frames

    model, metadata = load_checkpoint(args.checkpoint or bundled_checkpoint())
    frames = [rgb for _, rgb in iter_video_frames(SAMPLE_VIDEO, stride=4, max_frames=20)]
    model_figures: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for scale in (1, 2):
        LOG.info("model only at %d× the deployed size", scale)
        measured = measure_models(model, metadata, frames, args.backends, scale=scale, iterations=args.frames,
                                  num_threads=args.threads)
        unavailable.update(measured["unavailable"])
        for name, figures in measured["backends"].items():
            figures["input"] = measured["input"]
            if scale == 1:
                model_figures[name] = figures
            elif name in model_figures:
                model_figures[name]["at_2x"] = figures
    return {"model": model_figures, "model_unavailable": unavailable}


def _node_run(args: argparse.Namespace, series: dict[str, Any], run: int, ros_args: list[str],
              model: dict[str, Any]) -> dict[str, Any]:
    """One node run of ``series`` (beside a fresh calibration child when the series has one), with its ratios to the
    model-only p50 of the same benchmark."""
    from ss3d_ros.tools.bench.calibration_child import BackgroundCalibration
    from ss3d_ros.tools.bench.node_latency import measure_node
    from ss3d_ros.tools.bench.report import bench_key

    hz = series["rate_hz"]
    arm = "_calibration_child" if series["calibration_child"] else ""
    work_dir = args.output.parent / f"node_{series['pose_source']}_{hz:g}hz{arm}" / f"run{run}"
    ros_args = [*ros_args, "-p", f"pose_source:={series['pose_source']}"]
    child = BackgroundCalibration(args.calibration_child, work_dir / "calibration_child") if arm else None
    if child is not None:
        child.start()
    try:
        if child is not None and not child.mark_run_start():
            LOG.warning("the calibration child ended before the node run started (log: %s)", child.log_path)
        row = measure_node(SAMPLE_VIDEO, hz, ros_args, args.node_frames, work_dir)
    finally:
        row_child = child.stop() if child is not None else None
    row["pose_source"] = series["pose_source"]
    row["calibration_child"] = row_child
    if row_child and row_child["ended_early"]:
        LOG.warning("the calibration child was not running for the whole run (exit %s: %s)", row_child["exit_code"],
                    row_child["log_tail"])
    backend_model = model.get(bench_key(row["backend"]))
    p50 = row["p50_ms"]
    row["p50_vs_model_p50"] = p50 / backend_model["p50_ms"] if p50 and backend_model else None
    row["p50_vs_torch_model_p50"] = p50 / model["torch"]["p50_ms"] if p50 and "torch" in model else None
    return row


def run_node(args: argparse.Namespace, model: dict[str, Any]) -> list[dict[str, Any]]:
    """Node figures: one series per pose source, arm (beside the calibration child or not) and input rate
    (:func:`~ss3d_ros.tools.bench.report.node_series`), each with its runs and their spread; ``args.repeat`` rounds,
    each round every rate once, at each rate every pose source once, for each source both arms."""
    from ss3d_ros.tools.bench.node_latency import node_arguments
    from ss3d_ros.tools.bench.report import node_series, node_spread, series_label

    ros_args = node_arguments(args.node_backend, args.threads, args.param)
    if args.checkpoint:
        ros_args += ["-p", f"checkpoint:={args.checkpoint}"]
    arms = (False, True) if args.calibration_child else (False,)
    series = {(source, hz, child): node_series(source, hz, child)
              for source in args.pose_sources for child in arms for hz in args.rates}
    for run in range(1, args.repeat + 1):
        for hz in args.rates:
            for source in args.pose_sources:
                for child in arms:
                    current = series[(source, hz, child)]
                    row = _node_run(args, current, run, ros_args, model)
                    current["runs"].append(row)
                    LOG.info("run %d/%d, %s: output %.1f Hz, p50 %.1f ms, p95 %.1f ms, %d drops (load %.2f)", run,
                             args.repeat, series_label(current), row["output_hz"] or 0,
                             row["p50_ms"] or float("nan"), row["p95_ms"] or float("nan"), row["drops"],
                             row["load_average_start"])
    for current in series.values():
        current["spread"] = node_spread(current["runs"])
    return list(series.values())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it completed, 1 when the node could not be measured."""
    logging.basicConfig(level=logging.INFO, format="[ss3d_bench] %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.frames, args.threads, args.repeat) < 1 or (args.node_frames is not None and args.node_frames < 2):
        parser.error("--frames, --threads and --repeat must be >= 1, --node-frames >= 2")
    if any(not hz > 0 for hz in args.rates):
        parser.error(f"--rates must be > 0 Hz, got {args.rates}")
    try:
        args.pose_sources = resolve_pose_sources(args)
    except ValueError as err:
        parser.error(str(err))
    if args.calibration_child is not None and not args.no_node:
        from ss3d_ros.tools.bench.calibration_child import check_calibration_child

        problem = check_calibration_child(args.calibration_child)
        if problem is not None:
            print(f"ss3d_bench: {problem}", file=sys.stderr)
            return 2
    from ss3d_ros.tools.bench.report import evaluate_targets, markdown
    from ss3d_ros.tools.replay_session import SessionError

    report: dict[str, Any] = {"machine": _machine(), "checkpoint": args.checkpoint or "bundled",
                              "threads": args.threads,
                              "node_settings": {"pose_sources": args.pose_sources, "rates": args.rates,
                                                "repeat": args.repeat, "frames": args.node_frames,
                                                "calibration_child": args.calibration_child and
                                                str(args.calibration_child)}}
    try:
        report.update(run_model(args))
    except ValueError as err:
        parser.error(str(err))
    code = 0
    if not args.no_node:
        try:
            report["node"] = run_node(args, report["model"])
        except SessionError as err:
            LOG.error("node benchmark failed: %s", err)
            code = 1
    report["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    report["targets"] = evaluate_targets(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    args.output.with_suffix(".md").write_text(table)
    print(table)
    LOG.info("results: %s and %s", args.output, args.output.with_suffix(".md"))
    return code


if __name__ == "__main__":
    sys.exit(main())
