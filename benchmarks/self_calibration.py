"""Online self-calibration's result: the K that the node's online calibration adopts from a calibrated sequence.

The node's :class:`ss3d_core.calibration.online.OnlineCalibration` (the object the node drives) is fed the frames of a
calibrated TUM-layout sequence with their stamps until it starts its child (``ss3d_calibrate --frames`` on the key
frames at niceness 19, one COLMAP thread, the node's time limit), polled until the child ends, and the adopted fx is
compared with the sequence's calibration. The node's output rate while such a child runs is measured by
``ss3d_bench --calibration-child`` (docs/performance.md). Example (about 1-2 minutes on 2 cores)::

    .venv/bin/python -m benchmarks.self_calibration --sequence ../shared/data/sequences/kitti_odom_gray_51 \\
        --output out/bench/self_calibration.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from ss3d_core.calibration import online
from ss3d_core.io.stamps import seconds_to_ns
from ss3d_core.io.tum_sequence import TumSequence


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
    parser.add_argument("--output", type=Path, required=True, help="report JSON")
    parser.add_argument("--keyframes", type=int, default=online.KEYFRAMES,
                        help="key frames of the attempt (default: the node's; a shorter sequence gives all it has but "
                        "the first)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ss3d_bench_selfcalib_") as tmp:
        # The first frame only names the camera (the node looks up its cache before collecting).
        keyframes = min(args.keyframes, len(TumSequence.load(args.sequence).rgb) - 1)
        calibration, seq = _start_calibration(args.sequence, Path(tmp) / "cache", keyframes)
        start = time.monotonic()
        messages = []
        while calibration.state().state == "running":
            messages += calibration.poll()
            time.sleep(1.0)
        report = {
            "sequence": str(args.sequence), "key_frames": keyframes,
            "child": {"seconds": round(time.monotonic() - start, 1), "state": str(calibration.state()),
                      "messages": [message for _, message in messages]},
        }
        if calibration.adopted is not None:
            K, truth = calibration.adopted.K, seq.calibration
            report["adopted"] = {"fx": float(K[0, 0]), "fx_true": float(truth.K[0, 0]),
                                 "fx_relative_error": float(K[0, 0] / truth.K[0, 0] - 1.0)}
        calibration.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
