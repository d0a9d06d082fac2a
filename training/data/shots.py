"""Shot-cut detection: a clip of edited video is split into segments at its cuts, so no training pair spans one
(:func:`triplet_targets`: the frames that may be a training triplet's target).

The rule is PySceneDetect's ``AdaptiveDetector`` (Castellano, PySceneDetect 0.6, BSD-3-Clause; read, not copied; the
package itself requires ``opencv-python``, which conflicts with the pinned headless OpenCV): each consecutive pair
gets a content score, the mean absolute difference of the two frames in HSV (averaged over the three channels,
0-255), and a cut is declared where the score is at least :data:`MIN_CONTENT_SCORE` and at least
:data:`ADAPTIVE_RATIO` times the mean score of the :data:`WINDOW` pairs on each side. The ratio makes it robust to
fast camera motion, whose scores are high but uniformly so. Frames are compared at :data:`ANALYSIS_WIDTH_PX`.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["ADAPTIVE_RATIO", "MIN_CONTENT_SCORE", "MIN_SEGMENT_FRAMES", "content_scores", "shot_segments",
           "triplet_targets"]

# PySceneDetect AdaptiveDetector defaults: adaptive_threshold 3.0, min_content_val 15.0, window_width 2.
ADAPTIVE_RATIO = 3.0
MIN_CONTENT_SCORE = 15.0
WINDOW = 2
# Frames compared at this width (the score is a mean, nearly independent of resolution; small is fast).
ANALYSIS_WIDTH_PX = 128
# A segment shorter than a training triplet is kept in the manifest but carries no sample.
MIN_SEGMENT_FRAMES = 3


def _hsv(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = min(1.0, ANALYSIS_WIDTH_PX / w)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.float32)


def content_scores(frames: list[np.ndarray]) -> np.ndarray:
    """``N-1`` float content scores (mean absolute HSV difference, 0-255) of consecutive ``H×W×3`` uint8 RGB frames.

    Raises:
        ValueError: if two consecutive frames differ in size.
    """
    scores, previous = [], None
    for rgb in frames:
        hsv = _hsv(rgb)
        if previous is not None:
            if previous.shape != hsv.shape:
                raise ValueError(f"frames differ in size: {previous.shape} vs {hsv.shape}")
            scores.append(float(np.abs(hsv - previous).mean()))
        previous = hsv
    return np.asarray(scores, np.float64)


def shot_segments(scores: np.ndarray, n_frames: int) -> list[tuple[int, int]]:
    """Split ``n_frames`` frames at the cuts found in their ``n_frames - 1`` content scores.

    Returns:
        ``[(start, end), ...]`` half-open frame ranges covering ``0..n_frames`` in order (one segment without cuts).

    Raises:
        ValueError: if ``len(scores) != max(n_frames - 1, 0)``.
    """
    if len(scores) != max(n_frames - 1, 0):
        raise ValueError(f"{len(scores)} scores for {n_frames} frames")
    cuts = []
    for i, score in enumerate(scores):
        neighbours = np.concatenate([scores[max(0, i - WINDOW):i], scores[i + 1:i + 1 + WINDOW]])
        reference = neighbours.mean() if len(neighbours) else 0.0
        if score >= MIN_CONTENT_SCORE and score >= ADAPTIVE_RATIO * max(reference, 1e-6):
            cuts.append(i + 1)  # the pair (i, i + 1) spans the cut: frame i + 1 starts a new shot
    bounds = [0, *cuts, n_frames]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def triplet_targets(segments: Sequence[tuple[int, int]], n_frames: int,
                    spans: Sequence[tuple[int, int]] | None = None) -> list[int]:
    """The frames of a clip that are training targets: ``t`` such that the triplet ``(t - 1, t, t + 1)`` lies in one
    shot segment and, with ``spans``, in one span (so no pair of the sample spans a cut or leaves a kept span).

    Args:
        segments: half-open ``[start, end)`` shot segments in frame order (:func:`shot_segments`); empty: the whole
            clip is one segment.
        n_frames: the clip's frame count.
        spans: half-open ``[start, end)`` spans the triplet must lie in (e.g. the segments the MVS filter keeps,
            :func:`training.corpus.curriculum.kept_segments`); ``None``: the whole clip ``[0, n_frames)``.

    Returns:
        The targets (frame indices), segment by segment in the order of ``segments``, ascending within each.
    """
    segments = segments or [(0, n_frames)]
    spans = [(0, n_frames)] if spans is None else spans
    return [t for start, end in segments for t in range(start + 1, end - 1)
            if any(a <= t - 1 and t + 1 < b for a, b in spans)]
