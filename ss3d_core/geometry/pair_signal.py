"""The two-view multi-view signal of a pair of frames: is the camera moving, with parallax that SfM can use?

The two-view half of the corpus stage's multi-view-signal proxy (:mod:`training.corpus.mvs`, whose docstring gives
the components and their sources) and the motion test of ``ss3d_calibrate`` (:mod:`ss3d_core.calibration`). Each
pair is analysed at :data:`ANALYSIS_WIDTH_PX` with SIFT matches (:mod:`ss3d_core.geometry.features`) and robust
fundamental-matrix and homography fits (:mod:`ss3d_core.geometry.model_selection`)::

    signal = [n_matches >= 8] · [not static] · [gric_preference > 0]
             · rigid_ratio · min(1, parallax_deg / PARALLAX_REFERENCE_DEG)

``static``: median match displacement below :data:`STATIC_DISPLACEMENT` of the width; ``gric_preference``: Torr's
GRIC of the homography minus that of the fundamental matrix per correspondence (Torr 1998), positive only for general
motion with depth variation; ``parallax_deg``: median residual parallax of the rigid matches after the homography
(Irani & Anandan 1996) as an angle under the generic focal length
(:data:`ss3d_core.camera.GUESS_FOCAL_PER_WIDTH`); ``epipole_offset``: the epipole's distance from the image centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ss3d_core.camera import GUESS_FOCAL_PER_WIDTH
from ss3d_core.geometry.features import MAX_FEATURES, extract_features, match_features
from ss3d_core.geometry.model_selection import MIN_CORRESPONDENCES, fit_two_view_models

__all__ = [
    "ANALYSIS_WIDTH_PX",
    "EPIPOLE_FAR",
    "PAIR_SPAN_S",
    "PARALLAX_REFERENCE_DEG",
    "STATIC_DISPLACEMENT",
    "PairSignal",
    "analysis_frame",
    "epipole_offset",
    "pair_gap",
    "pair_signal",
]

# Pairs are analysed at this width (SIFT on a 640-px frame takes ~20 ms on one core; training's flow check uses the
# same cap, training.labels.flow_verification.MATCH_MAX_WIDTH_PX).
ANALYSIS_WIDTH_PX = 640
# Time between the two frames of an analysed pair of consecutive video (training.corpus.mvs explains why).
PAIR_SPAN_S = 0.5
# A still camera: median match displacement below 0.2 % of the width (1.3 px at 640 px), a few times SIFT's
# localisation noise (~0.3 px) so that sensor noise and compression do not count as motion.
STATIC_DISPLACEMENT = 0.002
# Saturation of the parallax term: 1°, where triangulated depth is known to about 10 %
# (training.labels.triangulated_labels).
PARALLAX_REFERENCE_DEG = 1.0
# Cap of ``epipole_offset`` (image widths): an epipole at infinity (pure sideways translation) or this far out is
# "sideways" alike (10 widths is 3.6° off the image plane's direction under the 0.8-width generic focal length).
EPIPOLE_FAR = 10.0


@dataclass(frozen=True)
class PairSignal:
    """MVS components of one pair of frames (see the module docstring); ``signal`` in [0, 1] is the two-view signal,
    ``rigid_explained`` the SfM rigidity evidence (NaN without), ``combined`` their product."""

    n_matches: int
    texture: float
    displacement: float
    frame_difference: float
    gric_preference: float
    rigid_ratio: float
    parallax_deg: float
    static: bool
    signal: float
    epipole_offset: float = math.nan
    rigid_explained: float = math.nan

    @property
    def combined(self) -> float:
        """The pair's signal in the score: ``signal · rigid_explained``, or ``signal`` without SfM evidence."""
        return self.signal * self.rigid_explained if math.isfinite(self.rigid_explained) else self.signal


def analysis_frame(rgb: np.ndarray) -> np.ndarray:
    """An ``H×W×3`` uint8 RGB frame downscaled (area interpolation) to at most :data:`ANALYSIS_WIDTH_PX` wide."""
    h, w = rgb.shape[:2]
    if w <= ANALYSIS_WIDTH_PX:
        return rgb
    scale = ANALYSIS_WIDTH_PX / w
    return cv2.resize(rgb, (ANALYSIS_WIDTH_PX, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def pair_signal(frame_a: np.ndarray, frame_b: np.ndarray) -> PairSignal:
    """MVS components of two ``H×W×3`` uint8 RGB frames of one size (see the module docstring).

    Raises:
        ValueError: if the frames differ in size.
    """
    if frame_a.shape != frame_b.shape:
        raise ValueError(f"frames differ in size: {frame_a.shape} vs {frame_b.shape}")
    a, b = analysis_frame(frame_a), analysis_frame(frame_b)
    width = a.shape[1]
    grey_a, grey_b = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
    frame_difference = float(np.abs(grey_a.astype(np.int16) - grey_b.astype(np.int16)).mean())
    features_a, features_b = extract_features(grey_a), extract_features(grey_b)
    texture = min(1.0, len(features_a.points) / MAX_FEATURES)
    pts_a, pts_b = match_features(features_a, features_b)
    n = len(pts_a)
    if n < MIN_CORRESPONDENCES:
        return PairSignal(n, texture, math.nan, frame_difference, 0.0, 0.0, 0.0, False, 0.0)
    displacement = float(np.median(np.linalg.norm(pts_b - pts_a, axis=1))) / width
    static = displacement < STATIC_DISPLACEMENT
    models = fit_two_view_models(pts_a, pts_b)
    rigid_ratio = float(models.f_inliers.mean())
    rigid_residual = models.h_residual_px[models.f_inliers]
    parallax_px = float(np.median(rigid_residual)) if len(rigid_residual) else 0.0
    parallax_deg = math.degrees(math.atan2(parallax_px if math.isfinite(parallax_px) else 0.0,
                                           GUESS_FOCAL_PER_WIDTH * width))
    preference = models.gric_preference
    signal = 0.0
    if not static and preference > 0:
        signal = rigid_ratio * min(1.0, parallax_deg / PARALLAX_REFERENCE_DEG)
    return PairSignal(n, texture, displacement, frame_difference, preference, rigid_ratio, parallax_deg, static,
                      signal, epipole_offset(models.F, a.shape[1], a.shape[0]))


def epipole_offset(F: np.ndarray | None, width: int, height: int) -> float:
    """Distance of the first image's epipole (``F e = 0``) from the image centre, in image widths, capped at
    :data:`EPIPOLE_FAR`; NaN without ``F``. Pixel coordinates of ``F``: ``x_bᵀ F x_a = 0`` with ``x = (u, v, 1)``."""
    if F is None:
        return math.nan
    e = np.linalg.svd(F)[2][-1]
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    if abs(e[2]) * EPIPOLE_FAR * width <= np.linalg.norm(e[:2]):
        return EPIPOLE_FAR
    return float(min(EPIPOLE_FAR, np.linalg.norm(e[:2] / e[2] - centre) / width))


def pair_gap(rate_hz: float | None, consecutive: bool) -> int:
    """Frames between the two frames of an analysed pair: :data:`PAIR_SPAN_S` at ``rate_hz`` for consecutive video,
    1 for a photo set or a clip without a known rate."""
    if not consecutive or not rate_hz:
        return 1
    return max(1, round(PAIR_SPAN_S * rate_hz))
