"""``ss3d_bench``: model-only latency per backend and the node end to end over DDS, in one run.

    ss3d_bench [--output out/bench/bench.json] [--repeat N]

1. Model only: every backend that runs here (torch eager, ONNX Runtime, and on a CUDA machine torch-cuda and
   TensorRT FP16/FP32) on the same real frames, at the deployed input size and at 2× it; fps, p50/p95/p99 latency,
   speed-up against torch eager in the same run, and parity errors against it.
2. The node, ``--repeat`` times: a fresh ``ss3d`` process per input rate (15, 30, 60 Hz; the rates take turns in
   each round, so that load from other processes hits them alike) fed the bundled 960×540 dashcam clip over DDS;
   output rate, latency p50/p95, frames without output (counted by the node or lost before its callback), and where
   each frame's time went, hand-off by hand-off (the node's frame trace); then the spread over the runs (min, median,
   max of the output rate and the p95 latency per input rate). One good run is not a result.

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

from ss3d_ros.tools.share_files import SAMPLE_VIDEO

LOG = logging.getLogger("ss3d_bench")
DEFAULT_BACKENDS = ("torch", "onnxruntime", "torch-cuda", "tensorrt-fp16", "tensorrt-fp32")
DEFAULT_RATES = (15, 30, 60)


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
    parser.add_argument("--no-node", action="store_true", help="model-only figures")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter, repeatable")
    return parser


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


def run_node(args: argparse.Namespace, model: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Node figures: ``{input rate as a string: [one row per run]}``, each row with its ratios to the model-only p50
    of the same benchmark; ``args.repeat`` rounds, each round every rate once."""
    from ss3d_ros.tools.bench.node_latency import measure_node, node_arguments
    from ss3d_ros.tools.bench.report import bench_key

    ros_args = node_arguments(args.node_backend, args.threads, args.param)
    if args.checkpoint:
        ros_args += ["-p", f"checkpoint:={args.checkpoint}"]
    node: dict[str, list[dict[str, Any]]] = {f"{hz:g}": [] for hz in args.rates}
    for run in range(1, args.repeat + 1):
        for hz in args.rates:
            work_dir = args.output.parent / f"node_{hz:g}hz" / f"run{run}"
            row = measure_node(SAMPLE_VIDEO, hz, ros_args, args.node_frames, work_dir)
            backend_model = model.get(bench_key(row["backend"]))
            p50 = row["p50_ms"]
            row["p50_vs_model_p50"] = p50 / backend_model["p50_ms"] if p50 and backend_model else None
            row["p50_vs_torch_model_p50"] = p50 / model["torch"]["p50_ms"] if p50 and "torch" in model else None
            node[f"{hz:g}"].append(row)
            LOG.info("run %d/%d, %g Hz: output %.1f Hz, p50 %.1f ms, p95 %.1f ms, %d drops (load %.2f)", run,
                     args.repeat, hz, row["output_hz"] or 0, p50 or float("nan"), row["p95_ms"] or float("nan"),
                     row["drops"], row["load_average_start"])
    return node


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it completed, 1 when the node could not be measured."""
    logging.basicConfig(level=logging.INFO, format="[ss3d_bench] %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.frames, args.threads, args.repeat) < 1 or (args.node_frames is not None and args.node_frames < 2):
        parser.error("--frames, --threads and --repeat must be >= 1, --node-frames >= 2")
    if any(not hz > 0 for hz in args.rates):
        parser.error(f"--rates must be > 0 Hz, got {args.rates}")
    from ss3d_ros.tools.bench.report import evaluate_targets, markdown, node_spread
    from ss3d_ros.tools.replay_session import SessionError

    report: dict[str, Any] = {"machine": _machine(), "checkpoint": args.checkpoint or "bundled",
                              "threads": args.threads}
    try:
        report.update(run_model(args))
    except ValueError as err:
        parser.error(str(err))
    code = 0
    if not args.no_node:
        try:
            report["node"] = run_node(args, report["model"])
            report["node_spread"] = node_spread(report["node"])
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
