"""``ss3d_calibrate``: a camera's K from a recording of it moving, written as a ROS camera_info YAML file.

    ss3d_calibrate --bag my_run/ [--topic /camera/image_raw] --output camera.yaml
    ss3d_calibrate --video walk.mp4 --output camera.yaml --camera-name front
    ss3d_calibrate --frames images/ --rate-hz 10 --output camera.yaml

Reads the recording at 10 frames per second, picks its longest stretch in which the camera moves with parallax,
reconstructs it with COLMAP (the SfM teacher's settings, one shared camera) and, when the model passes the checks of
:mod:`ss3d_core.calibration.acceptance`, writes ``--output`` in the ``camera_calibration_parsers`` format that camera
drivers load through ``camera_info_url`` (and the ``ss3d`` node through its ``camera_info_url`` parameter). Prints
fx, fy, cx, cy, the radial term, the registered fraction, the reprojection error and the frames used.

Exit status: 0 written; 1 COLMAP could not run (no pycolmap, time limit, crash); 2 bad input (a recording that cannot
be read, one line naming it and the cause); 3 refused (too little motion, or too little registers), nothing written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from ss3d_core.calibration.calibrate import (
    CALIBRATION_RATE_HZ,
    DEFAULT_TIMEOUT_S,
    CalibrationRefused,
    CalibrationResult,
    calibrate_frames,
)
from ss3d_core.calibration.camera_info_file import write_camera_info
from ss3d_core.geometry.pair_signal import pair_gap
from ss3d_core.io.bag_images import iter_bag_frames
from ss3d_core.io.image_folder import list_frames, read_rgb
from ss3d_core.io.video import iter_video_frames, video_fps
from ss3d_core.sfm.reconstruction import ReconstructionError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_REFUSED", "main"]

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
PROG = "ss3d_calibrate"


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bag", type=Path, help="rosbag2 folder (sqlite3 or MCAP)")
    source.add_argument("--video", type=Path, help="video file")
    source.add_argument("--frames", type=Path, help="folder of images, names in time order")
    parser.add_argument("--topic", help="--bag: image topic (default: the first camera Image topic)")
    parser.add_argument("--rate-hz", type=_positive, help="--frames: their frame rate (default: unknown, every image "
                        "is paired with the next)")
    parser.add_argument("--output", type=Path, required=True, help="camera_info YAML file to write")
    parser.add_argument("--camera-name", help="camera_name in the file (default: the output file's name)")
    parser.add_argument("--timeout-s", type=_positive, default=DEFAULT_TIMEOUT_S, help="COLMAP's time limit")
    parser.add_argument("--threads", type=int, default=-1,
                        help="CPU threads of COLMAP and of the motion scan (OpenCV; -1: all cores)")
    parser.add_argument("--nice", type=int, default=0, help="raise this process's niceness by N (a background run)")
    parser.add_argument("--summary-json", type=Path, help="also write the figures, or the refusal, as JSON here")
    return parser.parse_args(argv)


def _frames(args: argparse.Namespace) -> tuple[Iterator[np.ndarray], int]:
    """The recording's frames at about the calibration rate, and the motion test's pair gap."""
    if args.bag is not None:
        return iter_bag_frames(args.bag, CALIBRATION_RATE_HZ, args.topic), pair_gap(CALIBRATION_RATE_HZ, True)
    if args.video is not None:
        fps = video_fps(args.video)
        stride = max(1, round(fps / CALIBRATION_RATE_HZ))
        rate = fps / stride
        return (rgb for _, rgb in iter_video_frames(args.video, stride=stride)), pair_gap(rate, True)
    paths = list_frames(args.frames)
    rate = args.rate_hz
    stride = max(1, round(rate / CALIBRATION_RATE_HZ)) if rate else 1
    return (read_rgb(p) for p in paths[::stride]), pair_gap(rate / stride if rate else None, rate is not None)


def _report(result: CalibrationResult, output: Path, camera_name: str) -> str:
    K = result.K
    return (f"{PROG}: wrote {output} (camera_name {camera_name!r}, {result.width}x{result.height})\n"
            f"  fx {K[0, 0]:.2f}  fy {K[1, 1]:.2f}  cx {K[0, 2]:.2f}  cy {K[1, 2]:.2f} px   radial k1 "
            f"{result.radial_k1:+.4f}\n"
            f"  registered {result.registered}/{result.frames_used} frames ({result.registered_fraction:.0%}), "
            f"reprojection error {result.reprojection_error_px:.2f} px, frames used {result.frames_used}, "
            f"{result.seconds:.0f} s\n  {result.stretch}")


def _write_summary(path: Path | None, summary: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Calibrate (see the module docstring); returns the exit status."""
    args = parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    if args.threads > 0:
        cv2.setNumThreads(args.threads)  # the motion scan's OpenCV work keeps to the same threads as COLMAP
    # How this process ran, in every summary: a background child must show niceness 19 and one thread.
    process = {"niceness": os.nice(0), "opencv_threads": cv2.getNumThreads(), "colmap_threads": args.threads}
    camera_name = args.camera_name or args.output.stem
    try:
        frames, gap = _frames(args)
        result = calibrate_frames(frames, gap, timeout_s=args.timeout_s, num_threads=args.threads)
    except CalibrationRefused as err:
        _write_summary(args.summary_json, {"status": "refused", "kind": err.kind, "reason": str(err), **process})
        print(f"{PROG}: refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except ReconstructionError as err:
        _write_summary(args.summary_json, {"status": "failed", "kind": err.kind, "reason": str(err), **process})
        print(f"{PROG}: COLMAP could not run: {err}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, ValueError, av.FFmpegError) as err:  # BagReadError is a ValueError
        reason = " ".join(str(err).split()) or type(err).__name__
        _write_summary(args.summary_json, {"status": "bad_input", "kind": "input", "reason": reason, **process})
        print(f"{PROG}: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    write_camera_info(args.output, result.camera_info(camera_name))
    summary = result.summary()
    _write_summary(args.summary_json, {"status": "ok", "output": str(args.output), **process, **{
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in summary.items()}})
    print(_report(result, args.output, camera_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
