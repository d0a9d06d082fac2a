"""``ss3d_demo``: the node on real footage, end to end over DDS, with results written to disk.

    ss3d_demo                                  # the bundled dashcam sample (Udacity, MIT)
    ss3d_demo --video clip.mp4 --out out/my_demo
    ss3d_demo --sequence ../shared/data/sequences/tum_fr3_office_1hz
    ss3d_demo --bag my_bag/ --topic /camera/image_raw

It starts the ``ss3d`` node as its own process, publishes the frames at their native rate, records the node's
outputs to a rosbag2 (MCAP) and writes ``summary.json``, ``contact_sheet.png`` and ``trajectory.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from ss3d_ros.tools.frame_sources import open_source
from ss3d_ros.tools.replay_session import SessionError, SessionResult, run_session, summarise
from ss3d_ros.tools.report_figures import contact_sheet, trajectory_plot
from ss3d_ros.tools.share_files import SAMPLE_VIDEO, config_file

LOG = logging.getLogger("ss3d_demo")
# Frames shown in the contact sheet.
CONTACT_SHEET_ROWS = 6


def node_arguments(args: argparse.Namespace) -> list[str]:
    """``--ros-args`` for the node from the demo's command line."""
    ros_args: list[str] = []
    params = Path(args.params_file) if args.params_file else config_file("ss3d.yaml")
    if params is not None:
        ros_args += ["--params-file", str(params)]
    ros_args += ["-p", f"backend:={args.backend}", "-p", "autostart:=true"]
    if args.checkpoint:
        ros_args += ["-p", f"checkpoint:={args.checkpoint}"]
    for override in args.param:
        ros_args += ["-p", override]
    return ros_args


def write_figures(result: SessionResult, out_dir: Path, title: str) -> dict[str, str]:
    """Contact sheet of evenly spaced frames and the top-down odometry plot; returns their paths."""
    outputs = result.outputs
    stamps = [s for s in sorted(result.published) if s in outputs.depth]
    files: dict[str, str] = {}
    if stamps:
        picks = [stamps[i] for i in np.linspace(0, len(stamps) - 1, min(CONTACT_SHEET_ROWS, len(stamps))).astype(int)]
        rows = [(s, result.previews[s], outputs.depth[s]) for s in picks]
        files["contact_sheet"] = str(contact_sheet(rows, out_dir / "contact_sheet.png", title, "relative units"))
    if outputs.odometry:
        positions = np.array([T[:3, 3] for _, T in sorted(outputs.odometry, key=lambda x: x[0])])
        files["trajectory"] = str(trajectory_plot(positions, out_dir / "trajectory.png",
                                                  f"{title}: odometry (top-down)", "relative units"))
    return files


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ss3d_demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_argument_group("input (default: the bundled sample video)")
    source.add_argument("--video", help="video file (any FFmpeg format)")
    source.add_argument("--sequence", help="TUM-layout sequence folder (rgb.txt, calib.yaml)")
    source.add_argument("--bag", help="rosbag2 folder (sqlite3 or MCAP) with a sensor_msgs/Image topic")
    source.add_argument("--topic", help="image topic of --bag (default: the first Image topic)")
    parser.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--checkpoint", default="", help="SS3D checkpoint (default: the bundled one)")
    parser.add_argument("--backend", default="auto", help="auto | tensorrt | torch-cuda | onnxruntime | torch")
    parser.add_argument("--params-file", default="", help="node parameters YAML (default: config/ss3d.yaml)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter, repeatable")
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--rate", type=float, default=1.0, help="playback speed (1.0 = native rate)")
    timing.add_argument("--lockstep", action="store_true",
                        help="next frame once the previous output arrived (every frame scored, no drops)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--no-bag", action="store_true", help="do not write the output rosbag2")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit code 0 when at least one depth image came back, 1 when none did or the node failed, 2 when
    the input cannot be read (one line naming the file and the cause; a bag damaged mid-file stops playback there,
    and the summary of what was played is still written)."""
    logging.basicConfig(level=logging.INFO, format="[ss3d_demo] %(message)s")
    args = parse_args(argv)
    if not (args.video or args.sequence or args.bag):
        args.video = str(SAMPLE_VIDEO)
    try:
        source = open_source(args.video, args.sequence, args.bag, args.topic, args.max_frames)
        rate_hz = source.nominal_rate_hz()
    except (ValueError, FileNotFoundError, OSError) as err:
        LOG.error("cannot open the input: %s", err)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    mode = "lock-step" if args.lockstep else f"x{args.rate:.2f}"
    LOG.info("input %s at %.1f Hz, played %s; outputs in %s", source.path, rate_hz, mode, out_dir)
    try:
        result = run_session(
            source.frames(), node_arguments(args), out_dir, rate=None if args.lockstep else args.rate,
            bag_dir=None if args.no_bag else out_dir / "outputs_mcap", namespace="/ss3d_demo",
        )
    except SessionError as err:
        LOG.error("%s", err)
        return 1
    summary = summarise(result)
    summary["input"] = {"path": str(source.path), "nominal_rate_hz": rate_hz,
                        "playback_speed": None if args.lockstep else args.rate, "lockstep": args.lockstep}
    summary["depth_unit"] = "relative (monocular, up to scale) unless metric_scale is set"
    summary["files"] = write_figures(result, out_dir, Path(source.path).name)
    if result.bag_dir is not None:
        summary["files"]["bag"] = str(result.bag_dir)
    summary["files"]["node_log"] = str(result.node_log)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    received = summary["messages_received"]["depth"]
    LOG.info("published %d frames, received %d depth / %d odom / %d camera_info; output %.1f Hz; "
             "latency p50 %s ms; summary: %s", summary["frames_published"], received,
             summary["messages_received"]["odom"], summary["messages_received"]["camera_info"],
             summary["output_rate_hz"] or 0.0, summary["latency_ms"]["p50"], out_dir / "summary.json")
    if result.playback_error:
        return 2
    return 0 if received > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
