"""The numbers behind :data:`training.data.holdout.MATCH_NCC`: how well the hold-out fingerprint separates a corpus'
copies of evaluation frames from everything else, and what the guard costs.

For every corpus clip, every frame at its source rate is compared with every frame of the evaluation sequences
(:func:`training.data.holdout.clip_match_scores`). Prints, for the frames of clips that share frames with an
evaluation sequence (``--overlapping``, named by the caller: the reference the threshold is measured against) and for
all other frames, the distribution of each frame's best NCC over the evaluation frames; the NCC of neighbouring
frames within each evaluation sequence (how far a frame 1/rate later is from being "the same"); and the wall time
of the index and of the corpus pass (noisy on a shared machine). Example (about 30 s on 2 cores)::

    .venv/bin/python -m benchmarks.holdout_threshold --clips ../shared/data/web_clips \\
        --sequences ../shared/data/sequences --overlapping ddad_driving_triplet
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from training.data.clips import read_clip_indices
from training.data.holdout import ALL_FRAMES_RATE_HZ, MATCH_NCC, HoldoutIndex, clip_match_scores

PERCENTILES = (0, 50, 90, 99, 100)


def _summary(scores: np.ndarray) -> str:
    values = np.percentile(scores, PERCENTILES)
    return f"{len(scores)} frames; " + ", ".join(f"p{p} {v:.5f}" for p, v in zip(PERCENTILES, values))


def main(argv: list[str] | None = None) -> int:
    """Run the measurement (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", required=True, help="corpus folders")
    parser.add_argument("--sequences", nargs="+", required=True, help="evaluation sequences (or folders of them)")
    parser.add_argument("--overlapping", nargs="*", default=[], help="clips known to hold evaluation frames")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    index = HoldoutIndex.from_sequences(args.sequences)
    index_s = time.perf_counter() - start
    for k, name in enumerate(index.sequences):
        fps = index.fingerprints[index.frame_sequence == k]
        neighbours = np.sum(fps[1:] * fps[:-1], axis=1)
        if len(neighbours):
            print(f"neighbours in {name}: NCC {neighbours.min():.4f}-{neighbours.max():.4f} ({len(fps)} frames)")
    overlapping, others, top = [], [], []
    start = time.perf_counter()
    for spec in read_clip_indices(args.clips):
        best, _ = clip_match_scores(spec.iter_frames(ALL_FRAMES_RATE_HZ), index)
        (overlapping if spec.name in args.overlapping else others).append(best)
        if spec.name not in args.overlapping and len(best):
            top.append((float(best.max()), spec.name))
    corpus_s = time.perf_counter() - start
    print(f"{len(index.fingerprints)} evaluation frames of {len(index.sequences)} sequences, indexed in "
          f"{index_s:.1f} s")
    print(f"corpus pass: {corpus_s:.1f} s")
    if overlapping:
        print("overlapping clips' frames:", _summary(np.concatenate(overlapping)))
    print("all other frames:", _summary(np.concatenate(others)))
    print("highest other clips:", ", ".join(f"{name} {s:.4f}" for s, name in sorted(top, reverse=True)[:5]))
    print(f"MATCH_NCC = {MATCH_NCC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
