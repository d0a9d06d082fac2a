"""Online self-calibration's cost and result: the node's output rate with and without the calibration child running,
and the K that child adopts, in the same run.

1. ``baseline``: ``ss3d_demo`` on a clip at its native rate (``--rate 1``), nothing else started here.
2. The node's online calibration (:class:`ss3d_core.calibration.online.OnlineCalibration`, the object the node
   drives) fed the frames of a calibrated TUM-layout sequence with their stamps until it starts its child
   (``ss3d_calibrate --frames`` on :data:`~ss3d_core.calibration.online.KEYFRAMES` key frames at niceness 19, one
   COLMAP thread, the node's time limit).
3. ``with_child``: the same ``ss3d_demo`` again while that child runs (it must still be running when the demo ends;
   the report says whether it was).
4. The child's result against the sequence's calibration (fx relative error), and the ratio of the two output rates.

Example (about 3 minutes on 2 cores; timings are noisy when other work shares the machine)::

    .venv/bin/python -m benchmarks.self_calibration --sequence ../shared/data/sequences/kitti_odom_gray_51 \\
        --output out/bench/self_calibration.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ss3d_core.calibration import online
from ss3d_core.io.stamps import seconds_to_ns
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_core.sfm.runner import PACKAGE_ROOT

SAMPLE_VIDEO = PACKAGE_ROOT / "ss3d_ros" / "samples" / "udacity_solidwhiteright.mp4"


def _demo(video: Path, out: Path, extra: list[str]) -> dict:
    """One ``ss3d_demo`` run at the clip's native rate; returns its ``summary.json``."""
    command = [sys.executable, "-m", "ss3d_ros.tools.demo", "--video", str(video), "--out", str(out), "--no-bag",
               *extra]
    subprocess.run(command, check=True, cwd=PACKAGE_ROOT)
    return json.loads((out / "summary.json").read_text())


def _start_calibration(sequence: Path, cache: Path, keyframes: int) -> tuple[online.OnlineCalibration, TumSequence]:
    """The node's online calibration fed the sequence's frames with their stamps, its child started."""
    seq = TumSequence.load(sequence)
    calibration = online.OnlineCalibration(cache, keyframes=keyframes)
    for i, (stamp_s, _) in enumerate(seq.rgb):
        calibration.offer(seq.read_rgb(i), seconds_to_ns(stamp_s), "camera")
        calibration.poll()  # the first poll looks up the cache and starts collecting, a later one starts the child
        if calibration.state().state == "running":
            return calibration, seq
    raise SystemExit(f"{sequence}: no calibration child started: {calibration.state()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequence", type=Path, required=True, help="calibrated TUM-layout sequence (calib.yaml)")
    parser.add_argument("--video", type=Path, default=SAMPLE_VIDEO, help="clip the node runs on (default: bundled)")
    parser.add_argument("--output", type=Path, required=True, help="report JSON")
    parser.add_argument("--keyframes", type=int, default=online.KEYFRAMES,
                        help="key frames of the attempt (default: the node's; a shorter sequence gives all it has but "
                        "the first)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ss3d_bench_selfcalib_") as tmp:
        tmp = Path(tmp)
        baseline = _demo(args.video, tmp / "baseline", [])
        # The first frame only names the camera (the node looks up its cache before collecting).
        keyframes = min(args.keyframes, len(TumSequence.load(args.sequence).rgb) - 1)
        calibration, seq = _start_calibration(args.sequence, tmp / "cache", keyframes)
        start = time.monotonic()
        with_child = _demo(args.video, tmp / "with_child", [])
        child_running_at_end = calibration.state().state == "running"
        messages = []
        while calibration.state().state == "running":
            messages += calibration.poll()
            time.sleep(1.0)
        child_s = time.monotonic() - start
        report = {
            "video": str(args.video), "sequence": str(args.sequence),
            "key_frames": keyframes,
            "output_rate_hz": {"baseline": baseline["output_rate_hz"], "with_child": with_child["output_rate_hz"]},
            "input_rate_hz": {"baseline": baseline["input_rate_hz"], "with_child": with_child["input_rate_hz"]},
            "rate_ratio_with_child": with_child["output_rate_hz"] / baseline["output_rate_hz"],
            "frames_without_output": {"baseline": baseline["drops"]["frames_without_output"],
                                      "with_child": with_child["drops"]["frames_without_output"]},
            "child_running_when_the_demo_ended": child_running_at_end,
            "child": {"seconds_after_start": round(child_s, 1), "state": str(calibration.state()),
                      "messages": [message for _, message in messages]},
        }
        if calibration.adopted is not None:
            K, truth = calibration.adopted.K, seq.calibration
            report["adopted"] = {"fx": float(K[0, 0]), "fx_true": float(truth.K[0, 0]),
                                 "fx_relative_error": float(K[0, 0] / truth.K[0, 0] - 1.0)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
