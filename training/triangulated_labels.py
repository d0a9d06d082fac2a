"""Depth labels for a training batch by triangulating the observed flow under a pose solved from that flow.

TrianFlow (Zhao et al. 2020, "Towards Better Generalization: Joint Depth-Pose Learning without PoseNet"): fit an
essential matrix to the flow correspondences (the five-point USAC solver the evaluator uses,
:func:`ss3d_core.geometry.relative_pose.relative_pose_from_matches`, with the network's current K), keep the
pixels whose flow agrees with that motion (Sampson distance within the RANSAC threshold; this drops moving objects),
and triangulate them (:func:`ss3d_core.geometry.triangulation.triangulate_flow`). The labels do not depend on the pose
head, so they give depth a parallax signal that a wrong predicted pose cannot bend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ss3d_core.geometry.relative_pose import RANSAC_THRESHOLD_PX, relative_pose_from_matches
from ss3d_core.geometry.triangulation import triangulate_flow
from ss3d_core.losses.epipolar import flow_sampson_distance, fundamental_matrix

# Correspondences for the essential matrix: trusted flow on a grid of this stride (pixels); at 128×224 at most
# 22×38 points, enough for USAC and a few milliseconds per pair.
POSE_SAMPLE_STRIDE = 6
# A pair whose flow is less than this fraction explained by one rigid motion (cheirality-consistent RANSAC inliers
# among the sampled correspondences) gives no labels: mostly moving objects or a degenerate (rotation-only) fit.
MIN_INLIER_FRACTION = 0.5
# By default distant inliers count towards that fraction however far they are (cv2.recoverPose drops points beyond 50
# baselines unless told otherwise; see triangulated_labels' pose_gate_max_depth_baselines). A forward-moving camera
# sees mostly distant points: with the 50-baseline cut a dashcam pair kept about a quarter of its correspondences as
# inliers and never got labels; pixels that are too far to label are still dropped, one by one, by the parallax floor
# below. Stages 5 to 7 were trained with the cut at 50.
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


def _pose_from_flow(flow: np.ndarray, valid: np.ndarray, K: np.ndarray, gate_max_depth: float) -> np.ndarray | None:
    """``T_source_target`` (4×4 float64, unit translation) fitted to one ``2×H×W`` flow, or ``None``."""
    h, w = valid.shape
    v, u = np.mgrid[0:h:POSE_SAMPLE_STRIDE, 0:w:POSE_SAMPLE_STRIDE]
    keep = valid[v, u]
    target = np.stack([u[keep], v[keep]], axis=1).astype(np.float64)
    source = target + flow[:, v[keep], u[keep]].T
    # T_prev_cur with prev = source, cur = target.
    result = relative_pose_from_matches(source, target, K, max_depth_baselines=gate_max_depth)
    if result.T_prev_cur is None or result.n_inliers < MIN_INLIER_FRACTION * result.n_matches:
        return None
    return result.T_prev_cur


def triangulated_labels(
    flow: torch.Tensor,
    flow_valid: torch.Tensor,
    K: torch.Tensor,
    pose_gate_max_depth_baselines: float | None = None,
) -> DepthLabels:
    """Label the target frames of a batch from their flow towards one source frame.

    Args:
        flow: ``B×2×H×W`` float32 flow from the target to the source frame in pixels.
        flow_valid: ``B×1×H×W`` float mask of trusted flow (forward-backward consistent).
        K: ``B×3×3`` intrinsics in pixels at ``W×H`` (the network's current estimate; no gradient flows).
        pose_gate_max_depth_baselines: inliers of the pose fit triangulated farther than this many baselines do not
            count towards ``MIN_INLIER_FRACTION``; ``None`` (default): no limit.

    Returns:
        :class:`DepthLabels`; images whose pose fit fails have no valid pixel.
    """
    b, _, h, w = flow.shape
    gate_max_depth = math.inf if pose_gate_max_depth_baselines is None else pose_gate_max_depth_baselines
    flow64, K64 = flow.detach().cpu().double(), K.detach().cpu().double()
    trusted = flow_valid.detach().cpu() > 0.5
    flow_np, K_np, valid_np = flow64.numpy(), K64.numpy(), trusted[:, 0].numpy()
    # Images without a pose keep the identity: no translation, so nothing triangulates (and their Sampson distances
    # are NaN, which fails the threshold); the ``posed`` mask below says so explicitly.
    T = torch.eye(4, dtype=torch.float64).repeat(b, 1, 1)
    posed = torch.zeros(b, dtype=torch.bool)
    for i in range(b):
        T_i = _pose_from_flow(flow_np[i], valid_np[i], K_np[i], gate_max_depth)
        if T_i is not None:
            T[i] = torch.from_numpy(T_i)
            posed[i] = True
    triangulated = triangulate_flow(flow64, T, K64, MIN_PARALLAX_RAD)
    # Sampson distance of every pixel's flow under the fitted motion: outside the RANSAC threshold it moved on its own.
    sampson = flow_sampson_distance(flow64, fundamental_matrix(T, K64))
    consistent = (sampson < RANSAC_THRESHOLD_PX).reshape(b, 1, h, w)
    valid = triangulated.valid & consistent & trusted & posed[:, None, None, None]
    return DepthLabels(
        depth=triangulated.depth.to(flow.dtype).to(flow.device),
        valid=valid.to(flow.device),
        n_posed=int(posed.sum()),
    )
