"""The ``geometric`` pose source: frame-to-frame motion from tracked corners and epipolar geometry, its translation's
length from the network's depth (DF-VO: Zhan et al., "Visual Odometry Revisited: What Should Be Learnt?", ICRA 2020;
"DF-VO: What Should Be Learnt for Visual Odometry?", 2021).

Per pair (previous, current frame), on grey images at most :data:`GEOMETRY_WIDTH_PX` wide:

1. correspondences: corners tracked forward and backward (:func:`ss3d_core.geometry.corner_tracks.track_corners`);
   fewer than :data:`~ss3d_core.geometry.relative_pose.MIN_MATCHES` -> ``too_few_tracks``.
2. camera at rest: the median track moved less than :data:`MIN_PARALLAX_PX` -> ``at_rest``, exactly the identity.
3. essential matrix with the K the node publishes, OpenCV USAC MAGSAC++ (Barath et al. 2020), then
   ``cv2.recoverPose`` for ``R`` and the translation direction
   (:func:`ss3d_core.geometry.relative_pose.relative_pose_from_matches`).
4. model selection: Torr's GRIC (:mod:`ss3d_core.geometry.model_selection`) of the epipolar model
   (``F = K⁻ᵀ E K⁻¹``) against a robust homography. When the homography wins, the tracks do not pin the epipolar
   geometry down (a rotation only, a plane, or a baseline too short for the depth range, where rotation and
   translation trade for each other: the bas-relief ambiguity), and

   a. the rotation taken from the homography
      (:func:`~ss3d_core.geometry.homography_rotation.rotation_from_homography`) leaving a median parallax under
      :data:`MIN_PARALLAX_PX` -> ``pure_rotation``: that rotation, zero translation;
   b. otherwise the network's depth decides: PnP on the tracks lifted to 3D with the previous frame's depth
      (:func:`~ss3d_core.geometry.relative_pose.relative_pose_from_depth`, DF-VO's 2D-3D tracker; refused when
      too few tracks agree with the depth), kept when it explains the tracks' epipolar geometry as well as the
      essential matrix up to counting noise (``n_E - n_PnP <= sqrt(n_E)``) -> ``solved_depth``. TUM fr1/xyz pairs,
      2 cm apart at 1-2 m: the essential matrix was 1.4-2.8° off, PnP 0.26-0.63°. PnP refused or explaining
      fewer tracks, the essential matrix goes on.

   On KITTI and DGP (parallax from metres of motion) the epipolar model won on nearly every pair, and on the few
   where the homography won PnP on the far, poorly known depth was refused.
5. no essential matrix or too few cheirality-consistent inliers -> ``solve_failed``.
6. scale: the inliers triangulated by ``recoverPose`` (unit baseline, previous camera) against two depths of the
   same points, each through the median of the ratios (robust to half the points being wrong):

   * the network's depth of the previous frame at the same pixels (DF-VO's scale, in the depth's unit);
   * the depth the tracks carried from the pair before (points triangulated there and tracked on, monocular VO's
     relative-scale propagation, Nistér et al. 2004; consistent from pair to pair, but drifting over a run).

   The network's depth alone changes its scale with the scene (on kitti_odom_gray_51 its ratio to the true speed
   wandered by ±30 % over 10-frame stretches, and the ATE came out worse than the network's own pose); the
   propagated scale alone drifts slowly and does not know the depth's unit. They are blended in log space,
   ``s = s_tracks · (s_depth / s_tracks) ** DEPTH_SCALE_GAIN``: a complementary filter whose long-term scale is the
   network's depth. The blend's running ratio ``s / s_depth`` is kept, so that a pair without carried points (the
   first, or after a fallback) takes ``s = s_depth · ratio`` and the chain keeps its scale; without a network scale
   (fewer than :data:`MIN_SCALE_POINTS` points with a valid depth) ``s = s_tracks``; without both -> ``no_scale``.

``too_few_tracks``, ``solve_failed`` and ``no_scale`` fall back to the network's own motion for that pair (the
estimator substitutes it: the result carries no motion).

Nothing in a pair's solve needs the current frame's network output: the tracks come from the two images, the K is the
one published with the previous frame and the scale comes from the previous frame's depth. :meth:`GeometricPose.update`
therefore runs while the network encodes the current frame (the estimator overlaps the two on two threads), and the
current frame's depth is handed over afterwards with :meth:`GeometricPose.set_depth`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from ss3d_core.camera import scale_K
from ss3d_core.geometry.corner_tracks import CornerTracks, track_corners
from ss3d_core.geometry.homography_rotation import rotation_from_homography, rotation_homography_residual_px
from ss3d_core.geometry.model_selection import RANSAC_THRESHOLD_PX, compare_models, fit_homography, sampson_distance_sq
from ss3d_core.geometry.relative_pose import (
    MIN_INLIERS,
    MIN_MATCHES,
    backproject_pixels,
    relative_pose_from_depth,
    relative_pose_from_matches,
)
from ss3d_core.preprocess import validate_rgb8

__all__ = [
    "DEPTH_SCALE_GAIN",
    "ESSENTIAL_METHOD",
    "GEOMETRY_WIDTH_PX",
    "MAX_DEPTH_BASELINES",
    "MIN_PARALLAX_PX",
    "MIN_SCALE_POINTS",
    "POSE_SOURCES",
    "GeometricOutcome",
    "GeometricPose",
    "GeometricPoseResult",
]

# Values of the node's ``pose_source`` parameter.
POSE_SOURCES = ("network", "geometric")
# Widest grey image the tracker works on, pixels: the width at which issue 34 measured DIS and at which LK on 300
# corners reached the accuracy of SIFT five-point on kitti_odom_gray_51 for ~10 ms (docs/geometric_odometry.md).
GEOMETRY_WIDTH_PX = 640
# Median parallax (pixels at the tracking resolution) under which a pair is "no motion" (raw tracks) or "rotation
# only" (tracks after removing the homography's rotation): the forward-backward tolerance of the tracks
# (corner_tracks.FORWARD_BACKWARD_MAX_PX = 1 px round trip) halved, i.e. the one-way tracking noise a track may carry.
MIN_PARALLAX_PX = 0.5
# Robust estimator of the essential matrix: OpenCV's USAC MAGSAC++ (Barath et al. 2020), as issue 34 asks.
ESSENTIAL_METHOD = cv2.USAC_MAGSAC
# recoverPose's cheirality distance (baselines): a slow camera (TUM at 30 Hz: ~1 cm per frame, scene at 1-3 m) sees
# everything beyond OpenCV's default 50 baselines, which would leave no inlier; at 1000 baselines (1 mrad of
# parallax, half a pixel at f = 500 px) single points are noisy, but the cheirality vote and the scale's median run
# over hundreds of them.
MAX_DEPTH_BASELINES = 1000.0
# Fewest inliers with a valid network depth for the scale's median: the five-point minimal sample, so that the median
# of five ratios still holds with two of them wrong.
MIN_SCALE_POINTS = MIN_INLIERS
# Weight of the network's depth scale against the scale carried by the tracks, per pair (module docstring, step 6):
# the odometry's scale follows the depth's with a time constant of 1 / gain = 300 pairs, 10 s at 30 Hz, far longer
# than the few seconds over which the depth's scale wanders with the scene (measured, docs/geometric_odometry.md).
DEPTH_SCALE_GAIN = 1.0 / 300.0


class GeometricOutcome(StrEnum):
    """How one pair's motion was obtained (counted as ``pose_geometric_<value>`` by the estimator)."""

    SOLVED = "solved"
    SOLVED_DEPTH = "solved_depth"
    AT_REST = "at_rest"
    PURE_ROTATION = "pure_rotation"
    TOO_FEW_TRACKS = "too_few_tracks"
    SOLVE_FAILED = "solve_failed"
    NO_SCALE = "no_scale"

    @property
    def uses_network(self) -> bool:
        """True when the pair fell back to the network's motion."""
        return self in (GeometricOutcome.TOO_FEW_TRACKS, GeometricOutcome.SOLVE_FAILED, GeometricOutcome.NO_SCALE)


@dataclass(frozen=True)
class GeometricPoseResult:
    """One pair's motion from :meth:`GeometricPose.update`.

    Attributes:
        T_prev_cur: ``4×4`` float64 current camera into the previous one (REP 103 optical frames), translation in
            the depth's unit; ``None`` where ``outcome.uses_network`` (the caller takes the network's motion).
        outcome: see :class:`GeometricOutcome`.
        n_tracks: correspondences that passed the forward-backward check.
        n_inliers: inliers of the motion kept: cheirality-consistent inliers of the essential matrix (``solved``),
            tracks consistent with PnP's epipolar geometry (``solved_depth``), else 0 or the failed solve's count.
    """

    T_prev_cur: np.ndarray | None
    outcome: GeometricOutcome
    n_tracks: int
    n_inliers: int


def _grey(image_rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    grey = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    if (grey.shape[1], grey.shape[0]) != size:
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


def _sample_depth(depth: np.ndarray, pts: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-pixel depth at ``n×2`` pixels of an image of ``size`` (w, h) from a depth map of any size."""
    h, w = depth.shape
    u = np.clip(np.rint((pts[:, 0] + 0.5) * w / size[0] - 0.5), 0, w - 1).astype(int)
    v = np.clip(np.rint((pts[:, 1] + 0.5) * h / size[1] - 0.5), 0, h - 1).astype(int)
    return depth[v, u]


def _fundamental(E: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``F = K⁻ᵀ E K⁻¹`` (Hartley & Zisserman 2004, eq. 9.18) for two views with the same pixel intrinsics ``K``."""
    K_inv = np.linalg.inv(K)
    return K_inv.T @ E @ K_inv


def _epipolar_inliers(T_prev_cur: np.ndarray, K: np.ndarray, pts_prev: np.ndarray, pts_cur: np.ndarray) -> np.ndarray:
    """``n`` bool: tracks within :data:`RANSAC_THRESHOLD_PX` (Sampson) of the epipolar geometry of a motion,
    ``F = K⁻ᵀ [t]ₓ R K⁻¹`` with ``[R | t] = T_cur_prev`` (all False for a motion without translation)."""
    R = T_prev_cur[:3, :3].T
    t = -R @ T_prev_cur[:3, 3]
    if not np.linalg.norm(t) > 0:
        return np.zeros(len(pts_prev), bool)
    t_cross = np.array([[0.0, -t[2], t[1]], [t[2], 0.0, -t[0]], [-t[1], t[0], 0.0]])
    return sampson_distance_sq(_fundamental(t_cross @ R, K), pts_prev, pts_cur) < RANSAC_THRESHOLD_PX**2


def _carried_depth(tracks: CornerTracks, carried: tuple[np.ndarray, np.ndarray], usable: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(depth, seeded)``: for each track, the odometry-unit depth its seed point carried from the last pair (0 where
    none), and the ``usable`` tracks that were seeded from a carried point."""
    seeded = usable & (tracks.seed_index >= 0)
    depth = np.zeros(len(tracks.pts_prev))
    depth[seeded] = carried[1][tracks.seed_index[seeded]]
    return depth, seeded


def _median_ratio(depth: np.ndarray, z_unit: np.ndarray, usable: np.ndarray) -> float | None:
    """``median(depth / z_unit)`` over ``usable`` (``None`` with fewer than :data:`MIN_SCALE_POINTS`)."""
    if usable.sum() < MIN_SCALE_POINTS:
        return None
    return float(np.median(depth[usable] / z_unit[usable]))


class GeometricPose:
    """Stateful pose source over a frame stream (see the module docstring); :meth:`reset` on every discontinuity."""

    def __init__(self, max_width_px: int = GEOMETRY_WIDTH_PX):
        if max_width_px < 1:
            raise ValueError(f"max_width_px must be >= 1, got {max_width_px}")
        self.max_width_px = max_width_px
        self._prev_grey: np.ndarray | None = None  # the last frame's grey image at the tracking size
        self._prev_depth: np.ndarray | None = None  # its network depth (set_depth), None until handed over
        # Points of the previous frame with a depth in the odometry's unit (pixels S×2, depth S), from the last pair.
        self._carried: tuple[np.ndarray, np.ndarray] | None = None
        self._scale_over_depth = 1.0  # the blend's last s / s_depth (step 6)

    def reset(self) -> None:
        """Forget the previous frame (the next :meth:`update` only stores its frame)."""
        self._prev_grey = None
        self._prev_depth = None
        self._carried = None
        self._scale_over_depth = 1.0

    def tracking_size(self, width: int, height: int) -> tuple[int, int]:
        """``(w, h)`` of the grey images tracked for an input of ``width×height`` (aspect kept)."""
        scale = min(1.0, self.max_width_px / width)
        return max(1, round(width * scale)), max(1, round(height * scale))

    def update(self, image_rgb: np.ndarray, K: np.ndarray, input_size: tuple[int, int]) -> GeometricPoseResult | None:
        """Store this frame and return the motion since the previous one.

        Hand this frame's network depth over with :meth:`set_depth` before the next call (the next pair's scale);
        a pair whose previous frame got no depth is not solved.

        Args:
            image_rgb: ``H×W×3`` uint8 RGB, the frame as received (``input_size = (W, H)``).
            K: ``3×3`` pixel intrinsics at ``input_size`` (the K the node publishes, learned or given).
            input_size: ``(W, H)`` of ``image_rgb``.

        Returns:
            :class:`GeometricPoseResult`, or ``None`` without a previous frame (or its depth, or at another size).

        Raises:
            ValueError: if ``image_rgb`` is not a non-empty ``H×W×3`` uint8 array.
        """
        validate_rgb8(image_rgb)
        size = self.tracking_size(*input_size)
        grey = _grey(image_rgb, size)
        prev_grey, prev_depth = self._prev_grey, self._prev_depth
        self._prev_grey, self._prev_depth = grey, None
        if prev_grey is None or prev_depth is None or prev_grey.shape != grey.shape:
            self._carried = None
            return None
        return self._solve(prev_grey, grey, prev_depth, scale_K(K, input_size, size), size)

    def set_depth(self, depth: np.ndarray) -> None:
        """The network's depth of the frame last given to :meth:`update`: ``h×w`` float32 along +Z, any unit and
        size (the next pair's translation comes out in its unit)."""
        self._prev_depth = np.asarray(depth, np.float32)

    def _solve(self, grey_prev: np.ndarray, grey_cur: np.ndarray, depth_prev: np.ndarray, K: np.ndarray,
               size: tuple[int, int]) -> GeometricPoseResult:
        carried, self._carried = self._carried, None
        tracks = track_corners(grey_prev, grey_cur, None if carried is None else carried[0])
        pts_prev, pts_cur, n = tracks.pts_prev, tracks.pts_cur, len(tracks.pts_prev)
        if n < MIN_MATCHES:
            return GeometricPoseResult(None, GeometricOutcome.TOO_FEW_TRACKS, n, 0)
        if np.median(np.linalg.norm(pts_cur - pts_prev, axis=1)) < MIN_PARALLAX_PX:
            if carried is not None:  # nothing moved: the carried points keep their depth
                seeded = tracks.seed_index >= 0
                self._carried = (pts_cur[seeded], carried[1][tracks.seed_index[seeded]])
            return GeometricPoseResult(np.eye(4), GeometricOutcome.AT_REST, n, 0)
        five = relative_pose_from_matches(pts_prev, pts_cur, K, max_depth_baselines=MAX_DEPTH_BASELINES,
                                          method=ESSENTIAL_METHOD)
        network_depth = _sample_depth(depth_prev, pts_prev, size)
        H = self._homography_preferred(pts_prev, pts_cur, K, five.E)
        if H is not None:
            rotation = self._rotation_only(H, K, pts_prev, pts_cur)
            if rotation is not None:
                T = np.eye(4)
                T[:3, :3] = rotation.T  # R_prev_cur
                return GeometricPoseResult(T, GeometricOutcome.PURE_ROTATION, n, 0)
            T_depth = relative_pose_from_depth(pts_prev, pts_cur, network_depth, K)
            if T_depth is not None and self._explains_as_many(T_depth, five.T_prev_cur, K, pts_prev, pts_cur):
                return self._solved_with_depth(T_depth, K, tracks, network_depth, carried)
        if five.T_prev_cur is None:
            return GeometricPoseResult(None, GeometricOutcome.SOLVE_FAILED, n, five.n_inliers)
        z_unit = five.points_prev[:, 2]
        valid = five.inliers & np.isfinite(z_unit) & (z_unit > 0)
        s_depth = _median_ratio(network_depth, z_unit, valid & np.isfinite(network_depth) & (network_depth > 0))
        s_tracks = None
        if carried is not None:
            carried_depth, seeded = _carried_depth(tracks, carried, valid)
            s_tracks = _median_ratio(carried_depth, z_unit, seeded)
        if s_depth is None and s_tracks is None:
            return GeometricPoseResult(None, GeometricOutcome.NO_SCALE, n, five.n_inliers)
        if s_tracks is None:
            scale = s_depth * self._scale_over_depth
        elif s_depth is None:
            scale = s_tracks
        else:
            scale = s_tracks * (s_depth / s_tracks) ** DEPTH_SCALE_GAIN
            self._scale_over_depth = scale / s_depth
        T = five.T_prev_cur.copy()
        T[:3, 3] *= scale
        # Carry the inliers into the current camera, in the odometry's unit: X_cur = T_cur_prev X_prev.
        points_cur = (five.points_prev[valid] * scale - T[:3, 3]) @ T[:3, :3]
        ahead = points_cur[:, 2] > 0
        self._carried = (pts_cur[valid][ahead], points_cur[ahead, 2])
        return GeometricPoseResult(T, GeometricOutcome.SOLVED, n, five.n_inliers)

    def _solved_with_depth(self, T_depth: np.ndarray, K: np.ndarray, tracks: CornerTracks, network_depth: np.ndarray,
                           carried: tuple[np.ndarray, np.ndarray] | None) -> GeometricPoseResult:
        """The PnP motion (network depth units) in the odometry's scale: the ratio of the carried points' depth to
        the network's at the same tracks, blended as in step 6 (``(s_tracks / s_depth) ** (1 - DEPTH_SCALE_GAIN)``),
        or the blend's running ratio without carried points; the tracks consistent with its epipolar geometry carry
        their depth on."""
        pts_prev, pts_cur = tracks.pts_prev, tracks.pts_cur
        valid_depth = np.isfinite(network_depth) & (network_depth > 0)
        if carried is not None:
            carried_depth, seeded = _carried_depth(tracks, carried, valid_depth)
            tracks_over_depth = _median_ratio(carried_depth, network_depth, seeded)
            if tracks_over_depth is not None and tracks_over_depth > 0:
                self._scale_over_depth = tracks_over_depth ** (1.0 - DEPTH_SCALE_GAIN)
        inliers = _epipolar_inliers(T_depth, K, pts_prev, pts_cur)
        T = T_depth.copy()
        T[:3, 3] *= self._scale_over_depth
        usable = inliers & valid_depth
        points_prev = backproject_pixels(pts_prev[usable], network_depth[usable] * self._scale_over_depth, K)
        points_cur = (points_prev - T[:3, 3]) @ T[:3, :3]
        ahead = points_cur[:, 2] > 0
        self._carried = (pts_cur[usable][ahead], points_cur[ahead, 2])
        return GeometricPoseResult(T, GeometricOutcome.SOLVED_DEPTH, len(pts_prev), int(inliers.sum()))

    @staticmethod
    def _explains_as_many(T_depth: np.ndarray, T_essential: np.ndarray | None, K: np.ndarray, pts_prev: np.ndarray,
                          pts_cur: np.ndarray) -> bool:
        """PnP's motion explains the tracks' epipolar geometry as well as the essential matrix's, up to the counting
        noise of the inliers (``n_E - n_PnP <= sqrt(n_E)``, the Poisson standard deviation of a count; step 4b)."""
        if T_essential is None:
            return True
        n_essential = int(_epipolar_inliers(T_essential, K, pts_prev, pts_cur).sum())
        return n_essential - int(_epipolar_inliers(T_depth, K, pts_prev, pts_cur).sum()) <= np.sqrt(n_essential)

    @staticmethod
    def _homography_preferred(pts_prev: np.ndarray, pts_cur: np.ndarray, K: np.ndarray,
                              E: np.ndarray | None) -> np.ndarray | None:
        """The robust homography when GRIC prefers it to the essential matrix's epipolar model (step 4), else
        ``None``."""
        H = fit_homography(pts_prev, pts_cur)
        if H is None:
            return None
        F = _fundamental(E, K) if E is not None else None
        return H if compare_models(pts_prev, pts_cur, F, H).gric_preference < 0 else None

    @staticmethod
    def _rotation_only(H: np.ndarray, K: np.ndarray, pts_prev: np.ndarray, pts_cur: np.ndarray) -> np.ndarray | None:
        """``R_cur_prev`` from ``H`` when it explains the tracks up to :data:`MIN_PARALLAX_PX` (step 4a), else
        ``None``."""
        try:
            R = rotation_from_homography(H, K)
        except ValueError:
            return None
        residual = rotation_homography_residual_px(R, K, pts_prev, pts_cur)
        return R if np.median(residual) < MIN_PARALLAX_PX else None
