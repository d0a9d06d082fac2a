"""Pick the stretch of a recording that self-calibration can use: the longest run of frames in which the camera moves
with parallax (the two-view multi-view signal, :mod:`ss3d_core.geometry.pair_signal`).

Frames arrive in time order at the calibration rate. Every ``gap``-th frame is paired with the one ``gap`` frames
before it (:func:`ss3d_core.geometry.pair_signal.pair_gap`: half a second of video); a pair *moves* when its two-view
signal reaches :data:`MIN_PAIR_SIGNAL` (not static, the fundamental matrix preferred over a homography, rigid matches
with parallax). Consecutive moving pairs chain into a run; the longest run wins, and reading stops once a run holds
``max_frames`` frames, so at most two runs of frames are held in memory whatever the recording's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ss3d_core.geometry.pair_signal import pair_signal

__all__ = ["MIN_PAIR_SIGNAL", "Stretch", "moving_stretch"]

# A pair moves when its two-view signal reaches this: the MVS score below which a training segment is dropped
# (training.corpus.curriculum.DEFAULT_MVS_MIN_SCORE: a twentieth of full parallax and rigidity).
MIN_PAIR_SIGNAL = 0.05


@dataclass(frozen=True)
class Stretch:
    """The chosen run of frames and what the scan saw.

    Attributes:
        frames: the run's ``H×W×3`` uint8 RGB frames in time order (empty when no pair moved).
        first: index of the run's first frame among the frames read.
        frames_read: frames read from the recording.
        pairs_scored: pairs analysed; ``pairs_moving``: those that moved; ``pairs_static``: those with a still camera.
        median_parallax_deg: median two-view parallax over the pairs analysed (NaN without one).
    """

    frames: list[np.ndarray]
    first: int
    frames_read: int
    pairs_scored: int
    pairs_moving: int
    pairs_static: int
    median_parallax_deg: float

    def describe(self) -> str:
        """One line: the scan's counts."""
        parallax = "n/a" if math.isnan(self.median_parallax_deg) else f"{self.median_parallax_deg:.2f}°"
        return (f"{self.pairs_moving} of {self.pairs_scored} frame pairs move ({self.pairs_static} static, median "
                f"parallax {parallax}); longest moving stretch {len(self.frames)} of {self.frames_read} frames")


def moving_stretch(frames: Iterable[np.ndarray], gap: int, max_frames: int) -> Stretch:
    """The longest run of frames with camera motion (see the module docstring).

    Args:
        frames: ``H×W×3`` uint8 RGB frames of one size in time order (consumed until a run reaches ``max_frames``).
        gap: frames between the two frames of an analysed pair (>= 1).
        max_frames: stop once a run holds this many frames (>= 2); the run is cut to it.

    Raises:
        ValueError: ``gap < 1`` or ``max_frames < 2``, or frames of different sizes.
    """
    if gap < 1 or max_frames < 2:
        raise ValueError(f"gap must be >= 1 and max_frames >= 2, got {gap} and {max_frames}")
    best: tuple[int, list[np.ndarray]] = (0, [])
    run: list[np.ndarray] = []
    run_first, pending, n = 0, [], 0
    scored = moving = static = 0
    parallax: list[float] = []
    for n, rgb in enumerate(frames, 1):
        if not run:
            run, run_first = [rgb], n - 1
            continue
        pending.append(rgb)
        if len(pending) < gap:
            continue
        pair = pair_signal(run[-1], pending[-1])  # the run's last frame is `gap` frames before the newest
        scored += 1
        static += pair.static
        if math.isfinite(pair.parallax_deg):
            parallax.append(pair.parallax_deg)
        if pair.signal >= MIN_PAIR_SIGNAL:
            moving += 1
            run += pending
        else:
            if len(run) > len(best[1]) and len(run) > 1:
                best = (run_first, run)
            run, run_first = [pending[-1]], n - 1
        pending = []
        if len(run) >= max_frames:
            break
    if len(run) > len(best[1]) and len(run) > 1:
        best = (run_first, run)
    first, chosen = best
    return Stretch(chosen[:max_frames], first, n, scored, moving, static,
                   float(np.median(parallax)) if parallax else math.nan)

