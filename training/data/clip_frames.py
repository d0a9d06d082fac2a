"""A clip decoded at the training size with its optical flow: the unit the training cache stores and the dataset reads.

Frames are decoded once, resized with area interpolation, and DIS flow (:mod:`training.labels.optical_flow`) is computed
in both directions between consecutive frames, optionally checked against SIFT matches
(:mod:`training.labels.flow_verification`). Shot cuts (:mod:`training.data.shots`) split the clip into segments so that
no training triplet spans a cut.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.data.clips import ClipSpec
from training.data.shots import content_scores, shot_segments
from training.labels.flow_verification import matches_between, matching_features, verify_pair_masks
from training.labels.optical_flow import pair_flows
from training.labels.triangulated_labels import fit_flow_fundamental

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipFrames:
    """Decoded frames of one clip at the training size, with the optical flow between consecutive frames.

    Attributes:
        frames: ``N×H×W×3`` uint8 RGB.
        flow_forward, flow_backward: ``N-1×H×W×2`` float16 pixels, frame ``i`` -> ``i+1`` and ``i+1`` -> ``i``.
        valid_forward, valid_backward: ``N-1×H×W`` bool forward-backward consistency masks.
        fundamental_forward, fundamental_backward: ``N-1×3×3`` float32 fundamental matrices of each flow direction
            (``x_destᵀ F x_origin = 0``, :func:`training.labels.triangulated_labels.fit_flow_fundamental`; zeros where
            the fit failed), the cached half of the triangulated labels.
        inliers_forward, inliers_backward: ``N-1`` float32 fraction of the sampled trusted flow that fits them.
        segments: ``[start, end)`` shot segments (one ``(0, N)`` for a photo set or an uncut clip).

    The arrays may be memory-mapped read-only views of the training cache (:mod:`training.corpus.cache`).
    """

    name: str
    frames: np.ndarray
    flow_forward: np.ndarray
    valid_forward: np.ndarray
    flow_backward: np.ndarray
    valid_backward: np.ndarray
    fundamental_forward: np.ndarray
    inliers_forward: np.ndarray
    fundamental_backward: np.ndarray
    inliers_backward: np.ndarray
    segments: list[tuple[int, int]] = field(default_factory=list)


def load_clip_frames(
    clip: ClipSpec, height: int, width: int, target_rate_hz: float, flow_match_check: bool = True
) -> ClipFrames:
    """Decode and resize (area interpolation) all frames of ``clip`` to ``width×height`` and compute their flows.

    With ``flow_match_check`` each pair direction's flow mask is cleared unless SIFT matches between the frames, taken
    at their own resolution, confirm the flow (:mod:`training.labels.flow_verification`, the pairs' matches of
    :func:`~training.labels.flow_verification.sparse_matches`, with each frame's SIFT computed once); frames are decoded
    once either way.

    Raises:
        ValueError: with ``flow_match_check``, frames of the clip that differ in size.
    """
    frames, matches, previous = [], [], None  # previous: the last frame's size and SIFT features
    for rgb in clip.iter_frames(target_rate_hz):
        if flow_match_check:
            features = matching_features(rgb)  # once per frame, though an inner frame is in two pairs
            if previous is not None:
                if previous[0] != rgb.shape:
                    raise ValueError(f"frames differ in size: {previous[0]} vs {rgb.shape}")
                matches.append(matches_between(previous[1], features, width, height))
            previous = (rgb.shape, features)
        frames.append(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
    return clip_frames_from_images(clip.name, frames, clip.consecutive, matches if flow_match_check else None)


def clip_frames_from_images(
    name: str,
    frames: list[np.ndarray],
    consecutive: bool = True,
    matches: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> ClipFrames:
    """Flows, masks, label geometry and shot segments of frames already at the training size.

    Args:
        name: the clip's name.
        frames: ``H×W×3`` uint8 RGB frames of one size.
        consecutive: video frames (shot cuts are looked for) or a photo set (one segment).
        matches: per consecutive pair, SIFT matches (:func:`training.labels.flow_verification.sparse_matches`) that must
            confirm each flow direction; ``None`` skips the check.
    """
    h, w = frames[0].shape[:2] if frames else (0, 0)
    if len(frames) < 2:
        stacked = np.stack(frames) if frames else np.zeros((0, h, w, 3), np.uint8)
        empty = np.zeros((0, h, w, 2), np.float16)
        no_F, no_fraction = np.zeros((0, 3, 3), np.float32), np.zeros(0, np.float32)
        return ClipFrames(name, stacked, empty, empty[..., 0] > 0, empty, empty[..., 0] > 0, no_F, no_fraction,
                          no_F, no_fraction, [(0, len(frames))])
    stacked = np.stack(frames)
    fwd, fwd_ok, bwd, bwd_ok = pair_flows(stacked)
    if matches is not None:
        fwd_ok, bwd_ok, cleared = verify_pair_masks(fwd, fwd_ok, bwd, bwd_ok, matches)
        LOG.info("clip %s: %d of %d pair directions' flow not confirmed by SIFT matches, masked out",
                 name, cleared, 2 * len(fwd))
    segments = shot_segments(content_scores(frames), len(frames)) if consecutive else [(0, len(frames))]
    F_fwd, in_fwd = _fundamentals(fwd, fwd_ok)
    F_bwd, in_bwd = _fundamentals(bwd, bwd_ok)
    return ClipFrames(name, stacked, fwd, fwd_ok, bwd, bwd_ok, F_fwd, in_fwd, F_bwd, in_bwd, segments)


def _fundamentals(flows: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cached label geometry of every pair direction: ``N-1×3×3`` float32 F and ``N-1`` float32 inlier fractions."""
    fits = [fit_flow_fundamental(f, v) for f, v in zip(flows, valid)]
    return np.stack([F for F, _ in fits]), np.array([r for _, r in fits], np.float32)
