"""The multi-view-signal (MVS) proxy: how much parallax a clip offers structure-from-motion training.

Web video is dominated by clips that carry no or misleading SfM signal (GUIDE §1): static cameras, pure rotations
and pans, planar scenes, scenes full of moving objects, cuts. The proxy scores a clip segment by segment (no pair
spans a shot cut, :mod:`training.corpus.shots`) on up to :data:`PAIRS_PER_SEGMENT` evenly spaced pairs of frames
:data:`PAIR_SPAN_S` apart (adjacent images of a photo set; the segment's ends when it is shorter). Why not adjacent
10 Hz frames: over 0.1 s a slow walk or orbit moves the camera a few millimetres, its residual parallax stays near
SIFT's noise (median 0.04° on a hand-held orbit, 0.03° on a pure rotation) and the homography explains both; over
half a second translation separates from rotation while the views still overlap. Each pair is analysed at
:data:`ss3d_core.geometry.pair_signal.ANALYSIS_WIDTH_PX` with SIFT matches (:mod:`ss3d_core.geometry.features`) and
robust fundamental-matrix and homography fits (:mod:`ss3d_core.geometry.model_selection`), and yields these components:

- ``texture``: SIFT keypoints found, as a fraction of the detector's cap (no texture, no matches, no signal).
- ``displacement``: median match displacement as a fraction of the image width; a pair below
  :data:`STATIC_DISPLACEMENT` is a *static* camera (median, so moving objects on a still background do not count;
  the frame-difference test of the literature, made robust).
- ``frame_difference``: mean absolute grey difference (0-255), reported for inspection only.
- ``gric_preference``: Torr's GRIC of the homography minus that of the fundamental matrix, per correspondence; it
  is positive only when the correspondences need ``F`` (general motion with depth variation), not when a rotation,
  a still camera or a planar scene explains them (Torr 1998; Pollefeys et al. 2002 use it to pick key frames).
- ``rigid_ratio``: fraction of the matches that are inliers of the fundamental matrix, i.e. consistent with one
  rigid motion (moving objects and non-rigid scenes lower it; the rigidity measure of the See3D/WebVi3D curation).
- ``parallax_deg``: median residual parallax of the rigid matches after the best homography (plane + parallax,
  Irani & Anandan 1996), as an angle under the generic focal length of
  :func:`ss3d_eval.baselines.default_k.generic_guess_K`: a proxy of the triangulation angle that
  needs no calibration (a rotation moves every point along the homography, so only translation leaves a residual).
- ``epipole_offset``: distance of the first frame's epipole (the right null vector of ``F``: the image of the second
  camera centre, i.e. the direction of translation) from the image centre, in image widths, capped at
  :data:`EPIPOLE_FAR`. Rotation does not move it, so it separates forward motion (driving, walking a corridor: the
  focus of expansion lies in the view, offset < ~0.3) from sideways motion and orbits (epipole far outside). Not
  part of the score; the domain grouping reads it (:mod:`training.corpus.domains`).

Combination (no per-clip constants; each threshold has its source beside it)::

    pair_signal = [n_matches >= 8] · [not static] · [gric_preference > 0]
                  · rigid_ratio · min(1, parallax_deg / PARALLAX_REFERENCE_DEG)          (the two-view signal)
                  · rigid_explained      (only where the SfM teacher registered both frames in one model)

    mvs_score = mean of pair_signal over the sampled pairs of every segment   (0 = no usable multi-view signal)

``rigid_explained`` (:mod:`training.corpus.rigidity`, multi-view signal v2) is the share of the pair's trusted dense
flow that the reconstruction's relative pose and K explain: a second rigidity test, dense and against one
multi-view-consistent motion, where ``rigid_ratio`` counts sparse matches that fit some fundamental matrix (whose 7
degrees of freedom absorb a second motion on part of the image). Both must hold, hence the product. A pair the
reconstruction did not register (no model, a segment that failed, a clip without a store) keeps its two-view signal:
no multi-view evidence either way. ``two_view_score`` is the mean of the two-view signal alone (the proxy before v2).

The parallax saturates at :data:`PARALLAX_REFERENCE_DEG`, the ray angle at which training's triangulated labels
start (``training.labels.triangulated_labels.MIN_PARALLAX_RAD``): beyond it a pair is as useful as any. Clip-level
components are medians over the pairs; ``static_fraction`` and ``f_preferred_fraction`` are fractions of pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

# The two-view part (one pair's signal) lives in ss3d_core.geometry.pair_signal: ss3d_calibrate picks its stretches
# with it; this module scores clips and segments from it.
from ss3d_core.geometry.pair_signal import PairSignal, pair_signal

__all__ = ["PAIRS_PER_SEGMENT", "ClipSignal", "score_segments", "segment_pairs", "summarise"]

# Pairs analysed per segment: enough for a stable median, bounded time (about 1 s per segment on one core).
PAIRS_PER_SEGMENT = 12


@dataclass(frozen=True)
class ClipSignal:
    """MVS score and components of one clip (or segment).

    Attributes:
        mvs_score: mean pair signal in [0, 1] (0 without a scored pair), SfM evidence included.
        n_pairs: pairs scored.
        texture, displacement, frame_difference, gric_preference, rigid_ratio, parallax_deg, n_matches: medians over
            the pairs (NaN without pairs).
        static_fraction: fraction of pairs with a still camera.
        f_preferred_fraction: fraction of pairs whose GRIC prefers the fundamental matrix.
        epipole_offset: median over the pairs with a fitted ``F`` (NaN without one).
        two_view_score: mean two-view pair signal (``mvs_score`` without the SfM evidence).
        rigid_explained: median over the pairs with SfM evidence (NaN without one).
        sfm_pairs: pairs with SfM evidence (both frames registered in one model).
    """

    mvs_score: float
    n_pairs: int
    texture: float
    displacement: float
    frame_difference: float
    gric_preference: float
    rigid_ratio: float
    parallax_deg: float
    n_matches: float
    static_fraction: float
    f_preferred_fraction: float
    epipole_offset: float = math.nan
    two_view_score: float = 0.0
    rigid_explained: float = math.nan
    sfm_pairs: int = 0

    def as_row(self) -> dict[str, float | int]:
        """The fields as a flat dict (one row of ``scores.csv``)."""
        return asdict(self)


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def summarise(pairs: list[PairSignal]) -> ClipSignal:
    """Combine pair signals into a :class:`ClipSignal` (see the module docstring)."""
    if not pairs:
        nan = math.nan
        return ClipSignal(0.0, 0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    with_sfm = [p.rigid_explained for p in pairs if math.isfinite(p.rigid_explained)]
    return ClipSignal(
        mvs_score=float(np.mean([p.combined for p in pairs])),
        n_pairs=len(pairs),
        texture=_median([p.texture for p in pairs]),
        displacement=_median([p.displacement for p in pairs]),
        frame_difference=_median([p.frame_difference for p in pairs]),
        gric_preference=_median([p.gric_preference for p in pairs]),
        rigid_ratio=_median([p.rigid_ratio for p in pairs]),
        parallax_deg=_median([p.parallax_deg for p in pairs]),
        n_matches=_median([float(p.n_matches) for p in pairs]),
        static_fraction=float(np.mean([p.static for p in pairs])),
        f_preferred_fraction=float(np.mean([p.gric_preference > 0 for p in pairs])),
        epipole_offset=_median([p.epipole_offset for p in pairs]),
        two_view_score=float(np.mean([p.signal for p in pairs])),
        rigid_explained=_median(with_sfm),
        sfm_pairs=len(with_sfm),
    )


def segment_pairs(
    segment: tuple[int, int], gap: int = 1, pairs_per_segment: int = PAIRS_PER_SEGMENT
) -> list[tuple[int, int]]:
    """Up to ``pairs_per_segment`` evenly spaced pairs ``(i, i + g)`` inside a ``[start, end)`` segment, with
    ``g = min(gap, end - start - 1)`` (a short segment is scored over its length)."""
    start, end = segment
    n = end - start
    if n < 2:
        return []
    g = min(gap, n - 1)
    firsts = sorted({int(round(x)) for x in np.linspace(0, n - 1 - g, num=min(pairs_per_segment, n - g))})
    return [(start + i, start + i + g) for i in firsts]


def score_segments(
    frames: list[np.ndarray],
    segments: list[tuple[int, int]],
    gap: int = 1,
    pairs_per_segment: int = PAIRS_PER_SEGMENT,
    rigidity: Callable[[int, int], float | None] | None = None,
) -> tuple[ClipSignal, list[ClipSignal]]:
    """Score a clip's segments and the clip as a whole.

    Args:
        frames: the clip's ``H×W×3`` uint8 RGB frames at the training rate (any size; see :func:`analysis_frame`).
        segments: ``[start, end)`` shot segments (:func:`training.corpus.shots.shot_segments`).
        gap: frames between the two frames of a pair (:func:`pair_gap`).
        pairs_per_segment: pairs scored per segment.
        rigidity: ``(i, j) -> rigid_explained`` of frames ``i`` and ``j`` under the clip's SfM reconstruction, or
            ``None`` where it has no evidence (:class:`training.corpus.rigidity.RigidityCheck`); ``None``: the
            two-view signal alone.

    Returns:
        ``(clip, per_segment)``: the clip's signal over all scored pairs, and one signal per segment.
    """
    per_segment, all_pairs = [], []
    for segment in segments:
        pairs = []
        for i, j in segment_pairs(segment, gap, pairs_per_segment):
            pair = pair_signal(frames[i], frames[j])
            explained = rigidity(i, j) if rigidity is not None else None
            pairs.append(pair if explained is None else replace(pair, rigid_explained=explained))
        per_segment.append(summarise(pairs))
        all_pairs += pairs
    return summarise(all_pairs), per_segment
