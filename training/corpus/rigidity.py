"""The SfM teacher's reconstruction as evidence in the MVS proxy (multi-view signal v2, issue 23 item 4).

**Rigid-explained fraction** of an analysed pair of frames ``(i, j)`` (the MVS proxy's own pairs,
:func:`training.corpus.mvs.segment_pairs`: half a second apart in video, adjacent images in a photo set) that the
reconstruction registered in one model: the share of the pair's trusted optical flow that agrees with the rigid motion
``T_j_i`` of the reconstruction.

- **Trusted flow** is the flow training trusts, followed from frame ``i`` to frame ``j`` through the consecutive
  frames at the corpus rate: each step is DIS flow with the forward-backward check (:mod:`training.labels.optical_flow`)
  confirmed by SIFT matches (:func:`training.labels.flow_verification.check_flow`, the corpus stage's
  ``flow_match_check``; a step they do not confirm leaves the pair without evidence), and a pixel of frame ``i`` is
  trusted when every step it takes is consistent and stays in the image. Chaining the 0.1-s steps, not one flow over the
  half second: DIS is a small-displacement method, and over half a second of a walking phone (30-100 px at 320 px) it
  converged to wrong fields on most of the image (2-11 % of pixels consistent, SIFT disagreeing) where each 0.1-s step
  inside the same span was 70-90 % consistent and confirmed (``odomuav_tape_floor``). Scoring the steps one by one
  instead of their chain was measured too: a moving object's own motion over 0.1 s is near the tolerance, and it found
  most of a dynamic clip rigid (ROC AUC of the score 0.900, against 0.946 with chaining, in the first measurement on the
  61 labelled web clips; the chained score's current AUC and ablation are in docs/corpus_stage.md).
- **Agrees**: a rigid scene moves every pixel along its epipolar line ``x_jᵀ F x_i = 0``,
  ``F = K⁻ᵀ [t]ₓ R K⁻¹`` with the SfM relative pose ``T_j_i`` and the segment's K; a pixel on a moving object
  generally leaves it. The chained displacement agrees when its Sampson distance ``d`` (Hartley & Zisserman
  §11.4.3, :func:`ss3d_core.losses.epipolar.flow_sampson_distance`) stays within the error budget the
  forward-backward check grants the flow, summed over the steps (independent step errors: their variances add),
  ``d² < Σ_steps (FB_ALPHA·|f_step|² + FB_BETA)`` with UnFlow's constants of :mod:`training.labels.optical_flow`: no
  threshold of its own.

Why the epipolar test and not the rigid flow of depth: SfM depth is sparse (a few hundred points per image, on the
features COLMAP already found consistent), so comparing the flow at the points' pixels with their reprojection would
only re-check what the reconstruction kept: the moving objects the question is about have no points. The epipolar
distance needs no depth, so it scores every trusted pixel. What it cannot see: motion along the epipolar lines (an
object moving parallel to the camera's translation: depth would be needed, and the sparse points give none there),
any motion under a pure rotation (every epipolar line passes through the rotated pixel), and a still, textureless
region (zero flow lies on its own epipolar line under a small rotation: a point at infinity). It is rigidity
evidence only; the score's parallax comes from the two-view part (:mod:`training.corpus.mvs`).

The reconstruction is used whatever its registered share or its focal length (the label rules of
:mod:`training.sfm.store` decide what trains, not what is measured): a K or a pose that is wrong moves the epipolar
lines away from the flow and lowers the fraction by itself (``pi3_skating``, a follow shot reconstructed with a
focal length of 8 image widths: 0.003). The radial term of COLMAP's camera is ignored (pinhole ``F``); its
displacement between two views of one point is small next to the tolerance. Statistics of the reconstruction per
segment (registered fraction, median triangulation angle, points per image) are reported beside it
(:func:`segment_statistics`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from ss3d_core.camera import scale_K
from ss3d_core.geometry.model_selection import MIN_CORRESPONDENCES
from ss3d_core.losses.epipolar import MIN_TRANSLATION_NORM, flow_sampson_distance, fundamental_matrix
from training.labels.flow_verification import check_flow, matches_between, matching_features
from training.labels.optical_flow import FB_ALPHA, FB_BETA, dis_flow, forward_backward_mask
from training.sfm.store import SfmLabels

__all__ = ["RIGIDITY_FLOW_WIDTH_PX", "RigidityCheck", "rigid_flow_counts", "segment_statistics"]

# Flow for the test is computed at this width: half the MVS analysis width (DIS takes ~5 ms per direction there on one
# core) and about the training size (224 px), whose flow the same forward-backward bound already trusts.
RIGIDITY_FLOW_WIDTH_PX = 320


def rigid_flow_counts(frames: list[np.ndarray], T_last_first: np.ndarray, K: np.ndarray, size: tuple[int, int],
                      features: list | None = None) -> tuple[int, int] | None:
    """How much of the trusted flow chained from the first to the last of ``frames`` the rigid motion explains (see
    the module docstring).

    Args:
        frames: two or more consecutive ``H×W×3`` uint8 RGB frames of one size (any size; resized to
            :data:`RIGIDITY_FLOW_WIDTH_PX` wide for the flow, area interpolation).
        T_last_first: ``4×4`` pose mapping the first frame's camera coordinates into the last frame's (any unit).
        K: ``3×3`` intrinsics in pixels at ``size``.
        size: ``(width, height)`` in pixels that ``K`` describes (the clip's source size).
        features: each frame's :func:`training.labels.flow_verification.matching_features` when already computed.

    Returns:
        ``(explained, trusted)`` pixel counts of the first frame at the flow's size, or ``None`` when the pair says
        nothing: a step whose flow SIFT matches do not confirm, fewer than ``MIN_CORRESPONDENCES`` trusted pixels
        (the fewest that determine a fundamental matrix), or no translation (no epipolar geometry).

    Raises:
        ValueError: fewer than two frames, or frames of different sizes.
    """
    if len(frames) < 2 or any(f.shape != frames[0].shape for f in frames):
        raise ValueError(f"need two or more frames of one size, got {[f.shape for f in frames]}")
    if not np.linalg.norm(T_last_first[:3, 3]) > MIN_TRANSLATION_NORM:
        return None
    h, w = frames[0].shape[:2]
    flow_w = min(w, RIGIDITY_FLOW_WIDTH_PX)
    flow_size = (flow_w, max(1, round(h * flow_w / w)))
    small = [cv2.resize(f, flow_size, interpolation=cv2.INTER_AREA) for f in frames]
    features = features or [matching_features(f) for f in frames]
    grid = np.stack(np.meshgrid(np.arange(flow_size[0], dtype=np.float32),
                                np.arange(flow_size[1], dtype=np.float32)), axis=-1)
    position, trusted, budget = grid.copy(), np.ones(grid.shape[:2], bool), np.zeros(grid.shape[:2])
    for k in range(len(frames) - 1):
        flow = dis_flow(small[k], small[k + 1])
        consistent = forward_backward_mask(flow, dis_flow(small[k + 1], small[k]))
        if not check_flow(flow, consistent, *matches_between(features[k], features[k + 1], *flow_size)).trusted:
            return None
        map_x, map_y = position[..., 0], position[..., 1]
        step = cv2.remap(flow, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        trusted &= cv2.remap(consistent.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
        trusted &= (map_x >= 0) & (map_x <= flow_size[0] - 1) & (map_y >= 0) & (map_y <= flow_size[1] - 1)
        budget += FB_ALPHA * (step.astype(np.float64) ** 2).sum(axis=-1) + FB_BETA
        position = position + step
    if trusted.sum() < MIN_CORRESPONDENCES:
        return None
    F = fundamental_matrix(torch.from_numpy(np.asarray(T_last_first, np.float64))[None],
                           torch.from_numpy(scale_K(K, size, flow_size))[None])
    displacement = torch.from_numpy(position - grid).double().permute(2, 0, 1)[None]
    distance = flow_sampson_distance(displacement, F)[0].numpy().reshape(trusted.shape)
    return int((distance[trusted] ** 2 < budget[trusted]).sum()), int(trusted.sum())


class RigidityCheck:
    """The rigid-explained fraction of a clip's analysed pairs under its reconstruction (see the module docstring);
    the callable that :func:`training.corpus.mvs.score_segments` takes.

    Args:
        frames: the clip's frames at the corpus rate (the MVS analysis frames; frame ``i`` is the store's frame ``i``).
        reconstruction: the clip's reconstruction (:func:`training.sfm.store.load_reconstruction`).

    Raises:
        ValueError: the reconstruction has another number of frames than ``frames``.
    """

    def __init__(self, frames: list[np.ndarray], reconstruction: SfmLabels):
        if len(reconstruction.registered) != len(frames):
            raise ValueError(f"clip {reconstruction.clip}: the reconstruction has {len(reconstruction.registered)} "
                             f"frames, the clip {len(frames)}")
        self.frames = frames
        self.reconstruction = reconstruction

    def __call__(self, i: int, j: int) -> float | None:
        """The fraction for frames ``i < j``, or ``None`` unless both registered in one model and the chained flow
        says something (:func:`rigid_flow_counts`)."""
        model = self.reconstruction
        T_j_i = model.relative_pose(j, i)
        if T_j_i is None:
            return None
        K = model.segment_K[model.segment[i]] if model.segment_K else model.K
        counts = rigid_flow_counts(self.frames[i:j + 1], T_j_i, K, (model.width, model.height))
        return None if counts is None else counts[0] / counts[1]


def segment_statistics(record: dict, start: int, end: int) -> dict[str, float]:
    """The reconstruction's statistics over one shot segment ``[start, end)`` (or the whole clip) of a clip's
    ``sfm.json`` record (:mod:`training.sfm.store`): ``registered_fraction`` (registered frames over frames), and the
    ``triangulation_angle_deg`` (median) and ``points_per_image`` of the segment's model (for the whole clip, of the
    segment that registered the most frames); NaN where there is no model (``registered_fraction`` 0)."""
    nan = math.nan
    parts = [p for p in record.get("segments") or [] if p["start"] < end and p["end"] > start]
    frames = sum(min(p["end"], end) - max(p["start"], start) for p in parts) or max(1, end - start)
    registered = sum(int(p.get("registered") or 0) for p in parts)
    models = [p for p in parts if p.get("status") == "ok"]
    if record.get("status") != "ok" or not models:
        return {"registered_fraction": 0.0, "triangulation_angle_deg": nan, "points_per_image": nan}
    best = max(models, key=lambda p: p["registered"])
    angle = best.get("median_triangulation_angle_deg")
    return {"registered_fraction": min(1.0, registered / frames),
            "triangulation_angle_deg": nan if angle is None else float(angle),
            "points_per_image": float(best.get("points_per_image") or 0.0)}
