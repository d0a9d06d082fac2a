"""``ss3d_replay``: evaluate the running node by replaying a rosbag2 into it over DDS.

    ss3d_replay --bag ../shared/data/bags/euroc_v101_cam0_sqlite3 --out out/replay \\
        --groundtruth ../shared/data/sequences/euroc_v101_static/groundtruth.txt
    ss3d_replay --bag my_run/ --topic /camera/image_raw --lockstep --gt-topic /vicon/odom --gt-depth-topic /depth_gt

Plays the bag's image topic into the ``ss3d`` node (its own process) at the recorded rate (``--rate``) or lock-step
(``--lockstep``: each frame after the previous output, as fast as the node keeps up, no drops), records the node's
outputs to a new MCAP bag and writes ``report.json`` / ``report.md``: latency, output rate, drops, and, where ground
truth exists, the ``ss3d_eval`` metrics of the recorded outputs. With a ground-truth trajectory, the bag is played
once more per further ``--pose-sources`` entry (the node's ``pose_source``; default both, the node's default first),
each in a fresh node, and the pose of every source is scored side by side (``pose_sources`` in the report).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ss3d_core.estimator import EstimatorConfig
from ss3d_core.estimator.geometric_pose import POSE_SOURCES
from ss3d_core.io.ground_truth import depth_from_bag, trajectory_from_bag, trajectory_from_tum_file
from ss3d_eval.stream_scoring import score_depth, score_pose
from ss3d_ros.tools.demo import write_figures
from ss3d_ros.tools.frame_sources import BagSource
from ss3d_ros.tools.replay_session import SessionError, run_session, summarise
from ss3d_ros.tools.share_files import config_file

LOG = logging.getLogger("ss3d_replay")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ss3d_replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", required=True, help="rosbag2 folder (sqlite3 or MCAP)")
    parser.add_argument("--topic", help="image topic (default: the first sensor_msgs/Image topic)")
    parser.add_argument("--out", default="out/replay", help="output folder")
    parser.add_argument("--checkpoint", default="", help="SS3D checkpoint (default: the bundled one)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--params-file", default="", help="node parameters (default: config/ss3d.yaml)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE")
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--rate", type=float, default=1.0, help="playback speed relative to the recording")
    timing.add_argument("--lockstep", action="store_true", help="next frame once the previous output arrived")
    parser.add_argument("--use-camera-info", action="store_true",
                        help="publish the bag's CameraInfo to the node and use it instead of the learned K")
    gt = parser.add_argument_group("ground truth (optional)")
    gt.add_argument("--groundtruth", help="TUM trajectory file of the camera optical frame (T_world_camera)")
    gt.add_argument("--gt-topic", help="nav_msgs/Odometry or tf2_msgs/TFMessage topic of the bag")
    gt.add_argument("--gt-frame", help="child frame of the camera pose in a TF ground-truth topic")
    gt.add_argument("--gt-depth-topic", help="depth image topic of the bag (16UC1 mm or 32FC1 m)")
    gt.add_argument("--depth-cap-m", type=float, default=None, help="override the depth cap (metres)")
    parser.add_argument("--max-frames", type=int, default=None)
    default_sources = [EstimatorConfig.pose_source, *(s for s in POSE_SOURCES if s != EstimatorConfig.pose_source)]
    parser.add_argument("--pose-sources", nargs="+", choices=POSE_SOURCES, default=default_sources,
                        help="pose_source of the main run, then of one more node run each, scored side by side "
                             "(needs ground truth; overrides -p pose_source)")
    return parser.parse_args(argv)


def _node_arguments(args: argparse.Namespace, pose_source: str) -> list[str]:
    ros_args: list[str] = []
    params = Path(args.params_file) if args.params_file else config_file("ss3d.yaml")
    if params is not None:
        ros_args += ["--params-file", str(params)]
    ros_args += ["-p", f"backend:={args.backend}", "-p", f"use_camera_info:={str(args.use_camera_info).lower()}"]
    if args.checkpoint:
        ros_args += ["-p", f"checkpoint:={args.checkpoint}"]
    for override in args.param:
        ros_args += ["-p", override]
    ros_args += ["-p", f"pose_source:={pose_source}"]
    return ros_args


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _markdown(report: dict) -> str:
    s = report["stream"]
    lines = [
        f"# ss3d_replay: {report['bag']} ({report['topic']})", "",
        "| figure | value |", "|---|---|",
        f"| frames published | {s['frames_published']} |",
        f"| depth / odom / camera_info received | {s['messages_received']['depth']} / "
        f"{s['messages_received']['odom']} / {s['messages_received']['camera_info']} |",
        f"| output rate (Hz) | {_fmt(s['output_rate_hz'])} |",
        f"| latency p50 / p95 (ms) | {_fmt(s['latency_ms']['p50'])} / {_fmt(s['latency_ms']['p95'])} |",
        f"| frames without output | {s['drops']['frames_without_output']} |",
    ]
    if s.get("playback_error"):
        lines += ["", f"**Playback stopped early**: {s['playback_error']}"]
    warnings = [(report.get(section) or {}).get("warning") for section in ("pose", "depth")]
    warnings = [w for w in warnings if w]
    if warnings:
        lines += ["", "## warnings", "", *[f"- {w}" for w in warnings]]
    for section in ("pose", "depth"):
        if report.get(section):
            lines += ["", f"## {section}", "", "| metric | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in report[section].items() if k != "warning"]
    sources = report.get("pose_sources") or {}
    if len(sources) > 1:
        keys = ("rot_err_deg", "rot_err_deg_moving", "rot_err_deg_static", "tdir_err_deg", "ate_m", "n_pairs")
        lines += ["", "## pose sources (one node run each)", "", "| pose_source | " + " | ".join(keys) + " |",
                  "|---" * (len(keys) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(_fmt((pose or {}).get(k)) for k in keys) + " |"
                  for name, pose in sources.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Replay, record, score; exit 0 when outputs came back, 1 when none did or the node failed, 2 on bad input
    (a bag, topic or ground truth that cannot be read: one line naming the file and the cause; a bag damaged
    mid-file stops playback there, and the report of what was played is still written)."""
    logging.basicConfig(level=logging.INFO, format="[ss3d_replay] %(message)s")
    args = parse_args(argv)
    source = BagSource(Path(args.bag), topic=args.topic, max_frames=args.max_frames)
    try:
        topic = source.image_topic()
        camera_info = source.first_camera_info() if args.use_camera_info else None
        gt_traj = None
        if args.groundtruth:
            gt_traj = trajectory_from_tum_file(Path(args.groundtruth))
        elif args.gt_topic:
            gt_traj = trajectory_from_bag(Path(args.bag), args.gt_topic, args.gt_frame)
        gt_depth = depth_from_bag(Path(args.bag), args.gt_depth_topic) if args.gt_depth_topic else None
    except (ValueError, FileNotFoundError, OSError) as err:
        LOG.error("%s", err)
        return 2
    if args.use_camera_info and camera_info is None:
        LOG.error("--use-camera-info: the bag has no sensor_msgs/CameraInfo topic")
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    LOG.info("replaying %s of %s %s", topic, args.bag, "lock-step" if args.lockstep else f"at x{args.rate}")
    try:
        result = run_session(source.frames(), _node_arguments(args, args.pose_sources[0]), out_dir,
                             rate=None if args.lockstep else args.rate, bag_dir=out_dir / "outputs_mcap",
                             namespace="/ss3d_replay", camera_info=camera_info)
    except SessionError as err:
        LOG.error("%s", err)
        return 1
    report: dict = {"bag": str(args.bag), "topic": topic, "mode": "lockstep" if args.lockstep else f"rate x{args.rate}",
                    "stream": summarise(result)}
    if gt_traj is not None:
        report["pose"] = score_pose(result.outputs, gt_traj)
        report["pose_sources"] = {args.pose_sources[0]: report["pose"]}
        for pose_source in dict.fromkeys(args.pose_sources[1:]):
            if pose_source == args.pose_sources[0]:
                continue
            LOG.info("replaying again with pose_source %s", pose_source)
            extra_dir = out_dir / f"pose_source_{pose_source}"
            extra_dir.mkdir(exist_ok=True)
            try:
                extra = run_session(source.frames(), _node_arguments(args, pose_source), extra_dir,
                                    rate=None if args.lockstep else args.rate,
                                    namespace="/ss3d_replay", camera_info=camera_info, keep_depth=False)
            except SessionError as err:
                LOG.error("pose_source %s: %s", pose_source, err)
                return 1
            report["pose_sources"][pose_source] = score_pose(extra.outputs, gt_traj)
    if gt_depth is not None:
        report["depth"] = score_depth(result.outputs, gt_depth, args.depth_cap_m)
    for section in ("pose", "depth"):
        if (report.get(section) or {}).get("warning"):
            LOG.warning("%s", report[section]["warning"])
    report["files"] = {**write_figures(result, out_dir, Path(args.bag).name), "bag": str(out_dir / "outputs_mcap"),
                       "node_log": str(result.node_log)}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    (out_dir / "report.md").write_text(_markdown(report))
    LOG.info("report: %s", out_dir / "report.json")
    if result.playback_error:
        return 2
    return 0 if report["stream"]["messages_received"]["depth"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
