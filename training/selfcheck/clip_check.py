"""Command-line scaffolding shared by the ground-truth-free checks on a clip corpus.

:mod:`training.selfcheck.pose_agreement` and :mod:`training.selfcheck.depth_agreement` score a checkpoint on evenly
spaced consecutive pairs of every selected clip; this module holds their common arguments, the checkpoint and clip
loading, and the JSON output, so that both read the same corpus the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ss3d_core.checkpoint import load_checkpoint
from ss3d_core.network import SS3DNet
from training.data.clips import DEFAULT_TARGET_RATE_HZ, ClipSpec, evenly_spaced_pairs, read_clip_index

# Pairs scored per clip (evenly spaced over the clip).
DEFAULT_PAIRS_PER_CLIP = 8


def corpus_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every check takes (checkpoint, corpus, selection, sampling, output)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--checkpoint", required=True, help="SS3D checkpoint path without suffix")
    parser.add_argument("--root", required=True, help="clip corpus folder with clips.csv")
    parser.add_argument("--labels", nargs="+", default=["translating"], help="clip labels to score")
    parser.add_argument("--pairs-per-clip", type=int, default=DEFAULT_PAIRS_PER_CLIP)
    parser.add_argument("--target-rate-hz", type=float, default=DEFAULT_TARGET_RATE_HZ)
    parser.add_argument("--output", type=Path, help="write the per-clip results and medians as JSON here")
    return parser


def load_net_and_clips(
    parser: argparse.ArgumentParser, args: argparse.Namespace, consecutive_only: bool = False
) -> tuple[SS3DNet, list[ClipSpec]]:
    """Validate the shared options, seed OpenCV's RANSAC sampling, load the network (eval mode) and select the clips.

    Exits through ``parser.error`` (status 2) on a non-positive ``--pairs-per-clip`` or an empty selection; a bad
    checkpoint raises :class:`ss3d_core.checkpoint.CheckpointError`.
    """
    if args.pairs_per_clip < 1:
        parser.error("--pairs-per-clip must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2.setRNGSeed(0)  # USAC sampling inside the five-point solver
    net, _ = load_checkpoint(args.checkpoint)
    net.eval()
    clips = [c for c in read_clip_index(args.root)
             if c.label in args.labels and (c.consecutive or not consecutive_only)]
    if not clips:
        parser.error(f"no clips labelled {args.labels} under {args.root} (consecutive only: {consecutive_only})")
    return net, clips


def sampled_pairs(clip: ClipSpec, n_pairs: int, target_rate_hz: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(previous, current)`` frames (``H×W×3`` uint8 RGB, the clip's own size) of up to ``n_pairs`` evenly
    spaced consecutive pairs at about ``target_rate_hz``.

    The clip is decoded twice (count, then keep only the frames of the sampled pairs) so that memory stays bounded by
    ``2·n_pairs`` frames however long the log is.
    """
    pairs = evenly_spaced_pairs(sum(1 for _ in clip.iter_frames(target_rate_hz)), n_pairs)
    wanted = {i for p in pairs for i in (p, p + 1)}
    frames = {i: rgb for i, rgb in enumerate(clip.iter_frames(target_rate_hz)) if i in wanted}
    for i in pairs:
        yield frames[i], frames[i + 1]


def write_report(path: Path | None, checkpoint: str, summary: dict[str, Any], clips: list[dict[str, Any]]) -> None:
    """Write ``{"checkpoint", "summary", "clips"}`` as indented JSON to ``path`` (nothing when ``None``)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"checkpoint": checkpoint, "summary": summary, "clips": clips}, indent=2))
