"""Per-pair cost of the ``geometric`` pose source against the network's inference, in the same run.

Streams TUM-layout sequences through the node's estimator (``pose_source=geometric``, the bundled checkpoint, the
node's thread cap) and reports, per sequence and over all, the median and p95 wall time of the network's inference
(``FrameEstimate.inference_ms``: encode + decode) and of the geometric source (``FrameEstimate.geometry_ms``: grey
conversion, corner tracks forward and backward, essential matrix, homography check, scale), and their ratio. The
ratio is the comparable figure: absolute times depend on what else runs on the machine. Example (about 1 minute on
2 cores)::

    .venv/bin/python -m benchmarks.geometric_pose_cost --sequences ../shared/data/sequences/kitti_odom_gray_51 \\
        test/fixtures/tum_fr1_xyz_pair1 --output out/bench/geometric_pose_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from ss3d_core.checkpoint import bundled_checkpoint
from ss3d_core.estimator import EstimatorConfig, build_estimator
from ss3d_core.io.stamps import seconds_to_ns
from ss3d_core.io.tum_sequence import TumSequence

# Percentile reported beside the median (the node's latency target is a p95).
TAIL_PERCENTILE = 95


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, f"p{TAIL_PERCENTILE}_ms": None}
    return {"n": len(values), "p50_ms": float(np.median(values)),
            f"p{TAIL_PERCENTILE}_ms": float(np.percentile(values, TAIL_PERCENTILE))}


def measure(sequences: list[Path], backend: str, num_threads: int | None, max_frames: int | None) -> dict:
    """Run the estimator over ``sequences``; ``{"sequences": {name: {...}}, "all": {...}}`` of timings (ms)."""
    per_sequence: dict[str, dict] = {}
    all_inference: list[float] = []
    all_geometry: list[float] = []
    for root in sequences:
        sequence = TumSequence.load(root)
        # A fresh estimator per sequence; the pairs' stamps never restart odometry (every frame is a pair).
        estimator = build_estimator(str(bundled_checkpoint()), backend=backend, num_threads=num_threads,
                                    config=EstimatorConfig(pose_source="geometric", gap_threshold_s=3600.0))
        n = len(sequence.rgb) if max_frames is None else min(max_frames, len(sequence.rgb))
        inference, geometry = [], []
        for i in range(n):
            estimate = estimator.estimate(sequence.read_rgb(i), seconds_to_ns(sequence.rgb[i][0]))
            if estimate.T_prev_cur is not None:  # a pair: the geometric source ran
                inference.append(estimate.inference_ms)
                geometry.append(estimate.geometry_ms)
        all_inference += inference
        all_geometry += geometry
        per_sequence[sequence.name] = {"inference": _stats(inference), "geometry": _stats(geometry),
                                       "outcomes": {k: v for k, v in estimator.counters.items()
                                                    if k.startswith("pose_geometric_")}}
    summary = {"inference": _stats(all_inference), "geometry": _stats(all_geometry)}
    if all_inference:
        summary["geometry_over_inference_p50"] = summary["geometry"]["p50_ms"] / summary["inference"]["p50_ms"]
    return {"sequences": per_sequence, "all": summary, "load_average": list(os.getloadavg())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", nargs="+", type=Path, required=True, help="TUM-layout sequence folders")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--num-threads", type=int, default=None, help="default: the node's (CPU cores - 1)")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--output", type=Path, default=None, help="write the JSON here too")
    args = parser.parse_args(argv)
    result = measure(args.sequences, args.backend, args.num_threads, args.max_frames)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
