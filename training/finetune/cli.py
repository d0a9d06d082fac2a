"""``python -m training finetune --bag PATH --out DIR``: fine-tune the network on your own robot's rosbag2, then
compare the previous and the new checkpoint on the held-back end of the same log.

    python -m training finetune --bag my_run/ --out out/finetune/my_run            # (make finetune BAG=... OUT=...)
    python -m training finetune --bag my_run/ --out out/finetune/my_run --use-camera-info \\
        --groundtruth my_run_groundtruth.txt --max-minutes 20

Steps: the bag's image topic (sqlite3 or MCAP, decoded as the node decodes it) becomes one clip of the corpus stage;
its last 20 % by time is held back; the rest is cut into 2-s stretches scored by the MVS proxy, and a log with too
little usable motion is refused with the counts (exit 3). The SfM teacher (:mod:`training.finetune.log_sfm`) then
reconstructs the training part with COLMAP (never the held-back part; at most a quarter of the budget; ``--no-sfm``
skips it) and its labels train when usable; the report says how many frames registered, or why there are no labels.
The recipe (:mod:`training.finetune.recipe`) then trains from
``--from-checkpoint`` (default: the shipped one) for what is left of ``--max-minutes`` after a reserve for the report,
with a progress bar; rerunning the same command resumes (``DIR/lightning/last.ckpt``) within the same budget. The
export ``DIR/ss3d_small`` (safetensors + JSON; the node's ``checkpoint`` parameter and ``ss3d_eval --checkpoint``
load it as it is) records the command, the bag's SHA-256, the hold-out and, with ``--use-camera-info``, the
calibrated K it trained with. Last, ``DIR/report.md`` / ``report.json`` compare both checkpoints on the held-back part
(:mod:`training.finetune.report`), with the ``ss3d_eval`` metrics when ground truth is given.

Exit status: 0 done, 2 bad input (bag, topic, ground truth, checkpoint), 3 refused (too little usable motion).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

from ss3d_core.checkpoint import CheckpointError, bundled_checkpoint, read_metadata
from ss3d_core.io.ground_truth import depth_from_bag, trajectory_from_bag, trajectory_from_tum_file
from training.finetune import recipe
from training.finetune.bag_log import bag_sha256, read_camera_info
from training.finetune.log_clip import NotEnoughMotion, prepare_log_clip
from training.finetune.log_sfm import LogSfm, reconstruct_training_part
from training.finetune.report import ReportInputs, score_checkpoints, write_report
from training.finetune.train import fit_on_log

LOG = logging.getLogger("ss3d_finetune")

# Share of the budget kept for the report (replay and checks of two checkpoints), and its floor in seconds.
REPORT_RESERVE_FRACTION = 0.1
REPORT_RESERVE_MIN_S = 30.0
EXIT_BAD_INPUT, EXIT_REFUSED = 2, 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m training finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", required=True, type=Path, help="rosbag2 folder or file (sqlite3 or MCAP)")
    parser.add_argument("--topic", help="image topic (default: the first sensor_msgs/Image with a camera encoding)")
    parser.add_argument("--camera-info-topic", help="CameraInfo topic (default: the first one)")
    parser.add_argument("--use-camera-info", action="store_true",
                        help="train and replay with the bag's calibrated K instead of the learned one")
    parser.add_argument("--from-checkpoint", default=None, help="starting SS3D checkpoint (default: the shipped one)")
    parser.add_argument("--out", required=True, type=Path, help="run folder (rerun the command to resume)")
    parser.add_argument("--max-minutes", type=float, default=20.0,
                        help="wall-time budget of training plus report, minutes (default 20)")
    gt = parser.add_argument_group("ground truth for the report (optional)")
    gt.add_argument("--groundtruth", type=Path, help="TUM trajectory file of the camera optical frame")
    gt.add_argument("--gt-topic", help="nav_msgs/Odometry or tf2_msgs/TFMessage topic of the bag")
    gt.add_argument("--gt-frame", help="child frame of the camera pose in a TF ground-truth topic")
    gt.add_argument("--gt-depth-topic", help="depth image topic of the bag (16UC1 mm or 32FC1 m)")
    gt.add_argument("--depth-cap-m", type=float, default=None, help="override the depth cap (metres)")
    parser.add_argument("--no-sfm", action="store_true",
                        help="train without the SfM teacher (no COLMAP reconstruction of the log)")
    parser.add_argument("--no-progress-bar", action="store_true")
    args = parser.parse_args(argv)
    if not args.max_minutes > 0:
        parser.error("--max-minutes must be > 0")
    return args


def _ground_truth(args: argparse.Namespace) -> tuple[object, object, str | None]:
    if args.groundtruth:
        trajectory = trajectory_from_tum_file(args.groundtruth)
    elif args.gt_topic:
        trajectory = trajectory_from_bag(args.bag, args.gt_topic, args.gt_frame)
    else:
        trajectory = None
    depth = depth_from_bag(args.bag, args.gt_depth_topic) if args.gt_depth_topic else None
    sources = [s for s in (trajectory.source if trajectory else None,
                           f"bag topic {args.gt_depth_topic}" if depth is not None else None) if s]
    return trajectory, depth, ", ".join(sources) or None


def run(args: argparse.Namespace, command: str) -> int:
    """Run the command; returns the exit status (see the module docstring)."""
    started = time.monotonic()
    budget_s = args.max_minutes * 60.0
    start = args.from_checkpoint or str(bundled_checkpoint())
    try:
        read_metadata(start)
        if not args.bag.exists():
            raise FileNotFoundError(f"{args.bag}: no such bag")
        calibration = read_camera_info(args.bag, args.camera_info_topic)
        if args.use_camera_info and calibration is None:
            raise ValueError(f"--use-camera-info: {args.bag} has no sensor_msgs/msg/CameraInfo topic")
        trajectory, gt_depth, gt_source = _ground_truth(args)
        args.out.mkdir(parents=True, exist_ok=True)
        LOG.info("hashing %s", args.bag)
        sha = bag_sha256(args.bag)
        LOG.info("decoding %s and scoring its stretches (MVS proxy)", args.bag)
        clip = prepare_log_clip(args.bag, args.topic, args.out, recipe.DATA["target_rate_hz"],
                                recipe.HOLDOUT_FRACTION, recipe.STRETCH_S, recipe.DATA["mvs_min_score"],
                                recipe.MIN_USABLE_TRIPLETS, recipe.MIN_HOLDOUT_FRAMES)
    except NotEnoughMotion as err:
        LOG.error("%s", err)
        return EXIT_REFUSED
    except (ValueError, FileNotFoundError, FileExistsError, OSError, CheckpointError) as err:
        LOG.error("%s", err)
        return EXIT_BAD_INPUT
    sfm_started = time.monotonic()
    if args.no_sfm:
        sfm = LogSfm(None, clip.holdout_start, 0, None, None, "--no-sfm given")
    else:
        sfm = reconstruct_training_part(clip, args.out, recipe.DATA["target_rate_hz"], budget_s)
    # COLMAP is charged what the stored reconstruction took (not what this call took: nothing when it was reused), so
    # that a resumed run trains within the same budget as the first.
    sfm_correction_s = (sfm.seconds or 0.0) - (time.monotonic() - sfm_started)
    known = calibration.normalised() if args.use_camera_info else None
    holdout = {"fraction": recipe.HOLDOUT_FRACTION, "start_s": clip.holdout_start_s,
               "training_frames": clip.holdout_start, "held_back_frames": len(clip.stamps_s) - clip.holdout_start}
    metadata = {
        "command": command, "bag": str(args.bag.resolve()), "bag_sha256": sha, "topic": clip.spec.topic,
        "from_checkpoint": start, "holdout": holdout, "recipe": recipe.recipe_record(),
        "mvs_stretches": [{"start": a, "end": b, "mvs_score": s} for a, b, s in clip.stretches],
        "sfm": sfm.as_record(),
        "intrinsics": ({"source": "camera_info", "topic": calibration.topic, "K_px": calibration.K.tolist(),
                        "size": [calibration.width, calibration.height], "normalised": known}
                       if known else {"source": "learned"}),
    }
    (args.out / "finetune.json").write_text(json.dumps(metadata, indent=2) + "\n")
    reserve = max(REPORT_RESERVE_MIN_S, REPORT_RESERVE_FRACTION * budget_s)
    train_s = budget_s - (time.monotonic() - started + sfm_correction_s) - reserve
    if train_s <= 0:
        LOG.error("--max-minutes %.1f leaves no training time after decoding, scoring and the SfM teacher (%.0f s) "
                  "and the report reserve (%.0f s)", args.max_minutes, time.monotonic() - started, reserve)
        return EXIT_BAD_INPUT
    training = fit_on_log(clip, start, args.out, train_s, known, metadata, progress_bar=not args.no_progress_bar,
                          sfm_dir=sfm.store)
    LOG.info("trained to step %d; export %s", training.global_step, training.export)
    inputs = ReportInputs(args.bag, clip.spec.topic, clip.holdout_start_s, recipe.DATA["target_rate_hz"],
                          calibration if known else None, calibration, trajectory, gt_depth, args.depth_cap_m)
    results = score_checkpoints({"before": start, "after": str(training.export)}, inputs)
    header = {"bag": str(args.bag), "bag_sha256": sha, "command": command, "holdout_start_s": clip.holdout_start_s,
              "holdout_note": f"last {recipe.HOLDOUT_FRACTION:.0%} by time, {holdout['held_back_frames']} frames at "
                              f"{recipe.DATA['target_rate_hz']:g} Hz",
              "intrinsics_source": "calibrated K from CameraInfo" if known else "learned",
              "ground_truth": gt_source, "sfm": sfm.as_record(), "sfm_note": sfm.summary(),
              "global_step": training.global_step,
              "wall_s": time.monotonic() - started, "checkpoints": {"before": start, "after": str(training.export)}}
    json_path, md_path = write_report(args.out, results, header)
    LOG.info("report: %s, %s (%.1f min)", md_path, json_path, (time.monotonic() - started) / 60)
    print(md_path.read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m training finetune`` (and ``make finetune``)."""
    logging.basicConfig(level=logging.INFO, format="[ss3d_finetune] %(message)s")
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else ["finetune", *argv]
    command = shlex.join(["python", "-m", "training", *argv])
    return run(args, command)


if __name__ == "__main__":
    sys.exit(main())
