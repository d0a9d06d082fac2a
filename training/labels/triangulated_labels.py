"""Depth labels for a training batch by triangulating the observed flow under a pose solved from that flow.

TrianFlow (Zhao et al. 2020, "Towards Better Generalization: Joint Depth-Pose Learning without PoseNet"): fit the
epipolar geometry of the flow correspondences, keep the pixels whose flow agrees with it (Sampson distance within the
RANSAC threshold; this drops moving objects), and triangulate them
(:func:`ss3d_core.geometry.triangulation.triangulate_flow`). The labels do not depend on the pose head, so they give
depth a parallax signal that a wrong predicted pose cannot bend.

Split in two so that no per-sample CPU work runs inside ``training_step``:

1. **Once per pair direction, in the training cache** (:func:`fit_flow_fundamental`): a robust fundamental matrix
   ``F`` (``x_sourceᵀ F x_target = 0``, USAC MAGSAC++ via :func:`ss3d_core.geometry.model_selection.fit_fundamental`)
   fitted to the trusted flow sampled on a :data:`POSE_SAMPLE_STRIDE` grid, and its inlier fraction. ``F`` needs no
   intrinsics, so it does not change while the network's K does; crops and flips map it exactly
   (:func:`transform_fundamental`).
2. **Per batch, on the tensor device** (:func:`triangulated_labels`): with the network's current ``K``, the essential
   matrix ``E = Kᵀ F K`` (Hartley & Zisserman 2004, eq. 9.12) is decomposed and the candidate motion with the most
   points in front of both cameras is kept (:func:`ss3d_core.geometry.triangulation.choose_essential_motion`, the
   ``cv2.recoverPose`` rule), then every pixel consistent with that calibrated motion is triangulated.

A pair direction gives no labels when less than :data:`MIN_INLIER_FRACTION` of its sampled flow fits ``F`` or lies in
front of both cameras under the chosen motion (mostly moving objects or a degenerate, rotation-only fit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from kornia.geometry.epipolar import essential_from_fundamental, sampson_epipolar_distance

from ss3d_core.geometry.model_selection import RANSAC_THRESHOLD_PX, fit_fundamental
from ss3d_core.geometry.triangulation import choose_essential_motion, triangulate_flow
from ss3d_core.losses.epipolar import flow_sampson_distance, fundamental_matrix

# Robust estimator of the cached F: OpenCV's USAC_DEFAULT (LO-RANSAC with its degeneracy checks). On a near-planar
# scene with an independently moving object (test_triangulation) MAGSAC++ and USAC_ACCURATE returned an F that fits
# the object too (median Sampson distance 0.3 / 0.2 px on it), USAC_DEFAULT one that rejects it (3.2 px).
LABEL_F_METHOD = cv2.USAC_DEFAULT
# Correspondences for the pose: trusted flow on a grid of this stride (pixels); at 128×224 at most 22×38 points.
POSE_SAMPLE_STRIDE = 6
# A pair whose sampled flow is less than this fraction explained by one rigid motion (F inliers in front of both
# cameras) gives no labels: mostly moving objects or a degenerate (rotation-only) fit.
MIN_INLIER_FRACTION = 0.5
# Smallest ray angle labelled. DIS flow errors are a few tenths of a pixel, about 0.1° at the training focal length
# (~200 px at 224 px width), so at 1° the relative depth error stays near 10 %.
MIN_PARALLAX_RAD = math.radians(1.0)


@dataclass(frozen=True)
class DepthLabels:
    """Triangulated target-frame depth of one batch and one source frame.

    Attributes:
        depth: ``B×1×H×W`` float depth (unit translation per image, so one unknown scale per image).
        valid: ``B×1×H×W`` bool labelled pixels.
        n_posed: images of the batch whose pose fit passed the checks (the others have no labels).
    """

    depth: torch.Tensor
    valid: torch.Tensor
    n_posed: int


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:h:POSE_SAMPLE_STRIDE, 0:w:POSE_SAMPLE_STRIDE]


def fit_flow_fundamental(flow: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, float]:
    """The cached part of the labels for one pair direction.

    Args:
        flow: ``H×W×2`` flow from the target to the source frame in pixels (float16 or float32).
        valid: ``H×W`` bool trusted flow.

    Returns:
        ``(F, inlier_fraction)``: ``3×3`` float32 fundamental matrix (``x_sourceᵀ F x_target = 0``; zeros when the fit
        failed) and the fraction of the sampled trusted flow within the RANSAC threshold of it (0 on failure).
    """
    v, u = _grid(*valid.shape)
    keep = valid[v, u]
    target = np.stack([u[keep], v[keep]], axis=1).astype(np.float64)
    source = target + flow[v[keep], u[keep]].astype(np.float64)
    F, inliers = fit_fundamental(target, source, LABEL_F_METHOD)
    if F is None:
        return np.zeros((3, 3), np.float32), 0.0
    return (F / np.abs(F).max()).astype(np.float32), float(inliers.mean())


def transform_fundamental(F: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``F`` of a pair after the same affine pixel map ``x' = A x`` of both images (crop, resize, flip):
    ``F' = A⁻ᵀ F A⁻¹`` (Hartley & Zisserman 2004, §9.2.5 under a projective change of image coordinates)."""
    A_inv = np.linalg.inv(A)
    return (A_inv.T @ F @ A_inv).astype(F.dtype)


def triangulated_labels(
    flow: torch.Tensor,
    flow_valid: torch.Tensor,
    K: torch.Tensor,
    fundamental: torch.Tensor | None = None,
    inlier_fraction: torch.Tensor | None = None,
    pose_gate_max_depth_baselines: float | None = None,
) -> DepthLabels:
    """Label the target frames of a batch from their flow towards one source frame (tensor ops on the flow's device).

    Args:
        flow: ``B×2×H×W`` float32 flow from the target to the source frame in pixels.
        flow_valid: ``B×1×H×W`` float mask of trusted flow (forward-backward consistent).
        K: ``B×3×3`` intrinsics in pixels at ``W×H`` (the network's current estimate; no gradient flows).
        fundamental: ``B×3×3`` cached ``F`` of each pair direction (:func:`fit_flow_fundamental`); ``None`` fits it
            here (on the CPU, for tools and tests; training batches carry it).
        inlier_fraction: ``B`` cached inlier fractions (with ``fundamental``).
        pose_gate_max_depth_baselines: points triangulated farther than this many baselines do not count towards
            the gate's :data:`MIN_INLIER_FRACTION`; ``None`` (default): no limit (stages 5 to 7 ran at 50).

    Returns:
        :class:`DepthLabels`; images whose pose fails the gate have no valid pixel.
    """
    b, _, h, w = flow.shape
    device = flow.device
    trusted = flow_valid.detach() > 0.5
    if fundamental is None:
        fits = [fit_flow_fundamental(f.permute(1, 2, 0).cpu().numpy(), m[0].cpu().numpy())
                for f, m in zip(flow.detach(), trusted)]
        fundamental = torch.from_numpy(np.stack([F for F, _ in fits]))
        inlier_fraction = torch.tensor([r for _, r in fits])
    F = fundamental.to(device=device, dtype=torch.float64)
    flow64, K64 = flow.detach().double(), K.detach().double()
    # The cheirality vote on the sampled grid (the F inliers among the trusted flow), as cv2.recoverPose votes on
    # the RANSAC inliers.
    v, u = (torch.from_numpy(g.ravel()).to(device) for g in _grid(h, w))
    target = torch.stack([u, v], dim=-1).double().expand(b, -1, -1).contiguous()
    source = target + flow64[:, :, v, u].transpose(1, 2)
    consistent = sampson_epipolar_distance(target, source, F) < RANSAC_THRESHOLD_PX
    voters = consistent & trusted[:, 0, v, u]
    E = essential_from_fundamental(F, K64, K64)
    R, t, points = choose_essential_motion(E, K64, target, source, voters)
    T = torch.eye(4, dtype=torch.float64, device=device).repeat(b, 1, 1)
    T[:, :3, :3], T[:, :3, 3] = R, t.reshape(b, 3)
    gate = math.inf if pose_gate_max_depth_baselines is None else pose_gate_max_depth_baselines
    in_front = (points[..., 2] > 0) & (points[..., 2] <= gate)
    source_z = (points @ R.transpose(1, 2) + t.reshape(b, 1, 3))[..., 2] > 0
    n_sampled = trusted[:, 0, v, u].sum(dim=1).clamp(min=1)
    n_rigid = (voters & in_front & source_z).sum(dim=1)
    fits = inlier_fraction.to(device) >= MIN_INLIER_FRACTION if inlier_fraction is not None else True
    posed = fits & (n_rigid >= MIN_INLIER_FRACTION * n_sampled) & (F.abs().flatten(1).amax(dim=1) > 0)
    triangulated = triangulate_flow(flow64, T, K64, MIN_PARALLAX_RAD)
    # Labelled pixels agree with the calibrated motion (5 degrees of freedom), not only with F (7): flow that an
    # independently moving object bends along F's looser epipolar lines is dropped here.
    rigid = (flow_sampson_distance(flow64, fundamental_matrix(T, K64)) < RANSAC_THRESHOLD_PX).reshape(b, 1, h, w)
    valid = triangulated.valid & rigid & trusted & posed[:, None, None, None]
    return DepthLabels(depth=triangulated.depth.to(flow.dtype), valid=valid, n_posed=int(posed.sum()))
