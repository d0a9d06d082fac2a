"""Sparse correspondences between consecutive frames: Shi-Tomasi corners tracked with pyramidal Lucas-Kanade, kept
where the forward-backward check passes.

Corners (Shi & Tomasi 1994, ``cv2.goodFeaturesToTrack``) in the previous grey image are tracked into the current one
with pyramidal Lucas-Kanade (Bouguet 2000, ``cv2.calcOpticalFlowPyrLK``), then back; a track is kept when both passes
converge and the backward track returns within :data:`FORWARD_BACKWARD_MAX_PX` of its start (Kalal, Mikolajczyk &
Matas 2010, "Forward-Backward Error"). ``minDistance`` spreads the corners over the image. Points tracked into the
previous frame by the pair before (``seeds``) are tracked on, and fresh corners top them up to :data:`MAX_CORNERS`
away from them (the KLT front end of monocular visual odometry: Nistér, Naroditsky & Bergen 2004, "Visual
odometry"), so that a point can carry its depth from one pair to the next.

Chosen over OpenCV DIS dense flow and SIFT matching by measurement on kitti_odom_gray_51 with the calibrated K and a
USAC essential matrix (docs/geometric_odometry.md): at 640 px wide, 300 corners gave about 0.05° rotation and 0.5°
translation direction per pair for a few milliseconds of tracking on one core, where DIS "medium" needed 64 ms for
0.061° and DIS "fast" 8 ms for 0.19°. Pixel-centre convention: OpenCV's (a point at ``(u, v)`` is the centre of
pixel ``(u, v)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "CORNER_MIN_DISTANCE_PX",
    "CORNER_QUALITY",
    "FORWARD_BACKWARD_MAX_PX",
    "LK_MAX_LEVEL",
    "LK_WINDOW_PX",
    "MAX_CORNERS",
    "CornerTracks",
    "track_corners",
]

# Corners detected per frame: enough for a robust essential matrix after the forward-backward check (about 70 %
# survive on KITTI), few enough for the ~10 ms budget of the node on one core (measured, module docstring).
MAX_CORNERS = 300
# cv2.goodFeaturesToTrack's quality level as in OpenCV's lk_track.py sample: corners weaker than 1 % of the strongest
# are dropped.
CORNER_QUALITY = 0.01
# Least distance between two corners, pixels at the tracking resolution: 8 px is the lk_track.py sample's spacing
# (minDistance=7) rounded to 640 px wide images, and spreads 300 corners over the image instead of one textured patch.
CORNER_MIN_DISTANCE_PX = 8.0
# Lucas-Kanade window side (pixels): on kitti_odom_gray_51 as accurate as OpenCV's default 21 and its lk_track.py
# sample's 15, with these stopping rules at a fifth of their cost (docs/geometric_odometry.md).
LK_WINDOW_PX = 11
# Pyramid levels above the image: OpenCV's default 3, i.e. motions up to ~8 windows (KITTI's near road at 10 Hz).
LK_MAX_LEVEL = 3
# Lucas-Kanade stopping rule of OpenCV's lk_track.py sample: 10 iterations or a step below 0.03 px.
LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)
# Forward-backward error above which a track is dropped, pixels (Kalal et al. 2010 keep tracks under the median FB
# error; a fixed 1 px is the common choice in KLT-based visual odometry front ends).
FORWARD_BACKWARD_MAX_PX = 1.0


@dataclass(frozen=True)
class CornerTracks:
    """Tracks kept between two frames.

    Attributes:
        pts_prev, pts_cur: ``M×2`` float64 pixel positions in the previous / current image (``M`` may be 0: a flat
            image has no corner).
        seed_index: ``M`` int, the row of ``seeds`` a track continues, ``-1`` for a fresh corner.
    """

    pts_prev: np.ndarray
    pts_cur: np.ndarray
    seed_index: np.ndarray


def _fresh_corners(grey: np.ndarray, seeds: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` corners of ``grey`` at least :data:`CORNER_MIN_DISTANCE_PX` from every seed, ``K×2``."""
    if count <= 0:
        return np.zeros((0, 2), np.float32)
    mask = None
    if len(seeds):
        mask = np.full(grey.shape, 255, np.uint8)
        for u, v in np.rint(seeds).astype(int):
            cv2.circle(mask, (int(u), int(v)), int(CORNER_MIN_DISTANCE_PX), 0, -1)
    corners = cv2.goodFeaturesToTrack(grey, count, CORNER_QUALITY, CORNER_MIN_DISTANCE_PX, mask=mask)
    return np.zeros((0, 2), np.float32) if corners is None else corners.reshape(-1, 2)


def track_corners(grey_prev: np.ndarray, grey_cur: np.ndarray, seeds: np.ndarray | None = None) -> CornerTracks:
    """Track ``seeds`` and fresh corners of ``grey_prev`` into ``grey_cur`` (see the module docstring).

    Args:
        grey_prev, grey_cur: ``H×W`` uint8 grey images of the same size.
        seeds: ``S×2`` pixel positions in ``grey_prev`` to track on (``None``: fresh corners only); seeds outside
            the image are dropped by the tracker.

    Returns:
        :class:`CornerTracks` of the tracks that passed the forward-backward check.

    Raises:
        ValueError: if the images are not two 2-D uint8 arrays of one size, or ``seeds`` is not ``S×2``.
    """
    if grey_prev.ndim != 2 or grey_prev.shape != grey_cur.shape or grey_prev.dtype != np.uint8 \
            or grey_cur.dtype != np.uint8:
        raise ValueError(f"expected two H×W uint8 images of one size, got {grey_prev.shape} {grey_prev.dtype} and "
                         f"{grey_cur.shape} {grey_cur.dtype}")
    seeds = np.zeros((0, 2), np.float32) if seeds is None else np.asarray(seeds, np.float32)
    if seeds.ndim != 2 or seeds.shape[1] != 2:
        raise ValueError(f"seeds must be S×2, got {seeds.shape}")
    seeds = seeds[:MAX_CORNERS]
    fresh = _fresh_corners(grey_prev, seeds, MAX_CORNERS - len(seeds))
    start = np.concatenate([seeds, fresh]).reshape(-1, 1, 2)
    index = np.concatenate([np.arange(len(seeds)), np.full(len(fresh), -1)])
    if not len(start):
        empty = np.zeros((0, 2), np.float64)
        return CornerTracks(empty, empty, np.zeros(0, int))
    lk = {"winSize": (LK_WINDOW_PX, LK_WINDOW_PX), "maxLevel": LK_MAX_LEVEL, "criteria": LK_CRITERIA}
    forward, status_f, _ = cv2.calcOpticalFlowPyrLK(grey_prev, grey_cur, start, None, **lk)
    backward, status_b, _ = cv2.calcOpticalFlowPyrLK(grey_cur, grey_prev, forward, None, **lk)
    fb_error = np.linalg.norm((backward - start).reshape(-1, 2), axis=1)
    keep = (status_f.ravel() == 1) & (status_b.ravel() == 1) & (fb_error < FORWARD_BACKWARD_MAX_PX)
    return CornerTracks(start.reshape(-1, 2)[keep].astype(np.float64), forward.reshape(-1, 2)[keep].astype(np.float64),
                        index[keep])
