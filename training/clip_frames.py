"""A clip decoded at the training size with its optical flow: the unit the training cache stores and the dataset reads.

Frames are decoded once, resized with area interpolation, and DIS flow (:mod:`training.optical_flow`) is computed in
both directions between consecutive frames, optionally checked against SIFT matches
(:mod:`training.flow_verification`). Shot cuts (:mod:`training.corpus.shots`) split the clip into segments so that
no training triplet spans a cut.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.clips import ClipSpec
from training.corpus.shots import content_scores, shot_segments
from training.flow_verification import sparse_matches, verify_pair_masks
from training.optical_flow import pair_flows

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipFrames:
    """Decoded frames of one clip at the training size, with the optical flow between consecutive frames.

    Attributes:
        frames: ``N×H×W×3`` uint8 RGB.
        flow_forward, flow_backward: ``N-1×H×W×2`` float16 pixels, frame ``i`` -> ``i+1`` and ``i+1`` -> ``i``.
        valid_forward, valid_backward: ``N-1×H×W`` bool forward-backward consistency masks.
        segments: ``[start, end)`` shot segments (one ``(0, N)`` for a photo set or an uncut clip).

    The arrays may be memory-mapped read-only views of the training cache (:mod:`training.corpus.cache`).
    """

    name: str
    frames: np.ndarray
    flow_forward: np.ndarray
    valid_forward: np.ndarray
    flow_backward: np.ndarray
    valid_backward: np.ndarray
    segments: list[tuple[int, int]] = field(default_factory=list)


def load_clip_frames(
    clip: ClipSpec, height: int, width: int, target_rate_hz: float, flow_match_check: bool = True
) -> ClipFrames:
    """Decode and resize (area interpolation) all frames of ``clip`` to ``width×height`` and compute their flows.

    With ``flow_match_check`` each pair direction's flow mask is cleared unless SIFT matches between the frames, taken
    at their own resolution, confirm the flow (:mod:`training.flow_verification`); frames are decoded once either way.
    """
    frames, matches, previous = [], [], None
    for rgb in clip.iter_frames(target_rate_hz):
        if flow_match_check and previous is not None:
            matches.append(sparse_matches(previous, rgb, width, height))
        previous = rgb
        frames.append(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
    if len(frames) < 2:
        stacked = np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8)
        empty = np.zeros((0, height, width, 2), np.float16)
        return ClipFrames(clip.name, stacked, empty, empty[..., 0] > 0, empty, empty[..., 0] > 0, [(0, len(frames))])
    stacked = np.stack(frames)
    fwd, fwd_ok, bwd, bwd_ok = pair_flows(stacked)
    if flow_match_check:
        fwd_ok, bwd_ok, cleared = verify_pair_masks(fwd, fwd_ok, bwd, bwd_ok, matches)
        LOG.info("clip %s: %d of %d pair directions' flow not confirmed by SIFT matches, masked out",
                 clip.name, cleared, 2 * len(fwd))
    if clip.consecutive:
        segments = shot_segments(content_scores(frames), len(frames))
    else:
        segments = [(0, len(frames))]
    return ClipFrames(clip.name, stacked, fwd, fwd_ok, bwd, bwd_ok, segments)
