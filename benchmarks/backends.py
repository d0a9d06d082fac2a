"""Inference backends side by side on the same frames, in one run: median latency and the ratio to torch eager.

    .venv/bin/python benchmarks/backends.py [--checkpoint PATH] [--frames 60] [--threads 2] [--output out/bench.json]

Each backend streams the same real frames (the bundled dashcam sample) through the full ``Estimator`` (resize,
encode, pair decode, intrinsics filter, pose integration); backends alternate frame by frame so that machine load
affects them alike. The ratio ``torch / backend`` > 1 means faster than torch eager.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np

from ss3d_core.backends import BackendUnavailable, create_backend
from ss3d_core.checkpoint import bundled_checkpoint
from ss3d_core.estimator import Estimator
from ss3d_core.io.video import iter_video_frames

SAMPLE = Path(__file__).resolve().parent.parent / "ss3d_ros" / "samples" / "udacity_solidwhiteright.mp4"
BASELINE = "torch"
# Frames run before timing starts (allocator and thread-pool warm-up).
WARM_UP_FRAMES = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(bundled_checkpoint()))
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of every backend")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnxruntime", "torch-cuda"])
    parser.add_argument("--output", default="")
    args = parser.parse_args()

    frames = [rgb for _, rgb in iter_video_frames(SAMPLE, max_frames=args.frames + WARM_UP_FRAMES)]
    estimators: dict[str, Estimator] = {}
    for name in args.backends:
        try:
            backend, meta = create_backend(name, args.checkpoint, num_threads=args.threads)
        except BackendUnavailable as err:
            print(f"{name}: unavailable ({err})")
            continue
        estimators[name] = Estimator(backend, meta.intrinsics_prior)
    if BASELINE not in estimators:
        raise SystemExit(f"the baseline backend {BASELINE} is unavailable")
    times: dict[str, list[float]] = {name: [] for name in estimators}
    for i, rgb in enumerate(frames):
        for name, est in estimators.items():
            estimate = est.estimate(rgb, i * 40_000_000)
            if i >= WARM_UP_FRAMES:
                times[name].append(estimate.inference_ms)
    base = float(np.median(times[BASELINE]))
    results = {
        name: {
            "median_ms": float(np.median(t)),
            "p90_ms": float(np.percentile(t, 90)),
            "speedup_vs_torch": base / float(np.median(t)),
        }
        for name, t in times.items()
    }
    report = {"checkpoint": args.checkpoint, "frames": len(frames) - WARM_UP_FRAMES, "threads": args.threads,
              "machine": f"{platform.machine()} {platform.processor()} ({platform.node()})", "results": results}
    print(json.dumps(report, indent=2))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
