"""Wide-baseline check of dense flow: a pair's DIS flow is trusted only where sparse SIFT matches confirm it.

DIS flow (Kroeger et al. 2016) is a coarse-to-fine local method: when the frames of a pair are far apart (a photo set
rather than a video, a fast orbit) it converges to a wrong but smooth field that often passes the forward-backward
check, because the backward flow fails the same way. Triangulating such a field gives depth labels with inverted or
random structure (measured on the web clips: photo-set pairs whose flow missed the SIFT matches by a median of tens
of pixels still got labels, many ordered far-to-near down a table top). SIFT with Lowe's ratio test (Lowe 2004) is
invariant to the displacement, so its matches are an independent witness: a flow direction of a pair is trusted when
most of the matches that land on its forward-backward-consistent pixels agree with it (the same majority rule as
the labels' pose-fit gate, :data:`training.labels.triangulated_labels.MIN_INLIER_FRACTION`), and not at all otherwise.
Too few matches to judge also means no trust: at the training size that happens when the frames barely overlap or the
scene has almost no texture, the two cases where DIS is least reliable.

Matches come from the frames at their own resolution, downscaled to at most :data:`MATCH_MAX_WIDTH_PX` wide (more
and better-localised keypoints than at the training size, bounded cost), and are then expressed in training pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ss3d_core.geometry.features import Features, extract_features, match_features
from ss3d_core.geometry.relative_pose import MIN_MATCHES

# Matching resolution cap (pixels of width): SIFT on a 640-px-wide frame takes ~20 ms on one core.
MATCH_MAX_WIDTH_PX = 640
# A match agrees with the flow when the flow carries its first point within this distance of its second (training
# pixels): SIFT localisation (~0.5 px at the matching size, less after downscaling), the flow's own error (a few
# tenths of a pixel) and the nearest-pixel lookup (up to 0.7 px) together stay under it.
MATCH_AGREEMENT_PX = 2.0
# Fewest matches on consistent flow to judge a direction: the five-point baseline's minimum for a pose.
MIN_CHECKED_MATCHES = MIN_MATCHES
# Majority rule: at least this fraction of the checked matches must agree.
MIN_AGREEING_FRACTION = 0.5


@dataclass(frozen=True)
class FlowCheck:
    """Outcome of checking one flow direction against sparse matches.

    Attributes:
        n_checked: matches whose first point lies on a forward-backward-consistent pixel.
        n_agreeing: of those, matches the flow carries within :data:`MATCH_AGREEMENT_PX` of their second point.
        trusted: ``n_checked >= MIN_CHECKED_MATCHES`` and ``n_agreeing >= MIN_AGREEING_FRACTION * n_checked``.
    """

    n_checked: int
    n_agreeing: int
    trusted: bool


def sparse_matches(frame_a: np.ndarray, frame_b: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """SIFT + Lowe-ratio matches between two ``H×W×3`` uint8 RGB frames of one size, in ``width×height`` pixels.

    Returns:
        ``(pts_a, pts_b)``: ``M×2`` float32 pixel positions (pixel-centre convention) at the training size.

    Raises:
        ValueError: if the two frames differ in size.
    """
    if frame_a.shape != frame_b.shape:
        raise ValueError(f"frames differ in size: {frame_a.shape} vs {frame_b.shape}")
    return matches_between(matching_features(frame_a), matching_features(frame_b), width, height)


def matching_features(frame: np.ndarray) -> tuple[Features, tuple[int, int]]:
    """SIFT of an ``H×W×3`` uint8 RGB frame downscaled (area interpolation) to at most :data:`MATCH_MAX_WIDTH_PX`
    wide, with that matching size ``(width, height)``: computed once per frame when a frame is in several pairs."""
    h, w = frame.shape[:2]
    scale = min(1.0, MATCH_MAX_WIDTH_PX / w)
    if scale < 1.0:
        frame = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return extract_features(frame), (frame.shape[1], frame.shape[0])


def matches_between(features_a: tuple[Features, tuple[int, int]], features_b: tuple[Features, tuple[int, int]],
                    width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sparse_matches` from two frames' :func:`matching_features` (of one matching size)."""
    pts_a, pts_b = match_features(features_a[0], features_b[0])
    mw, mh = features_a[1]
    # Pixel-centre convention: x_train + 0.5 = (x_match + 0.5) * width / mw.
    factor = np.array([width / mw, height / mh], np.float32)
    return (pts_a + 0.5) * factor - 0.5, (pts_b + 0.5) * factor - 0.5


def check_flow(flow_ab: np.ndarray, valid_ab: np.ndarray, pts_a: np.ndarray, pts_b: np.ndarray) -> FlowCheck:
    """Check a dense flow against matches from its first image to its second.

    Args:
        flow_ab: ``H×W×2`` flow from image ``a`` to ``b`` in pixels (float16 or float32).
        valid_ab: ``H×W`` bool forward-backward-consistent pixels of ``a``.
        pts_a, pts_b: ``M×2`` matched positions in ``a`` and ``b`` (pixels of the flow's size).

    Returns:
        :class:`FlowCheck`.
    """
    h, w = valid_ab.shape
    u = np.clip(np.rint(pts_a[:, 0]).astype(int), 0, w - 1)
    v = np.clip(np.rint(pts_a[:, 1]).astype(int), 0, h - 1)
    on_valid = valid_ab[v, u]
    carried = pts_a[on_valid] + flow_ab[v[on_valid], u[on_valid]].astype(np.float32)
    n_checked = int(on_valid.sum())
    n_agreeing = int((np.linalg.norm(carried - pts_b[on_valid], axis=1) < MATCH_AGREEMENT_PX).sum())
    trusted = n_checked >= MIN_CHECKED_MATCHES and n_agreeing >= MIN_AGREEING_FRACTION * n_checked
    return FlowCheck(n_checked, n_agreeing, trusted)


def verify_pair_masks(
    flow_forward: np.ndarray,
    valid_forward: np.ndarray,
    flow_backward: np.ndarray,
    valid_backward: np.ndarray,
    matches: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Clear the masks of every pair direction that its matches do not confirm (see the module docstring).

    Args:
        flow_forward, flow_backward: ``N-1×H×W×2`` flows of consecutive pairs (frame ``i`` -> ``i+1`` and back).
        valid_forward, valid_backward: ``N-1×H×W`` bool forward-backward masks.
        matches: ``N-1`` pairs ``(pts_i, pts_i+1)`` from :func:`sparse_matches`.

    Returns:
        ``(valid_forward, valid_backward, n_cleared)``: new masks (the inputs are not modified) and the number of
        directions cleared.

    Raises:
        ValueError: if ``matches`` does not have one entry per pair.
    """
    if len(matches) != len(flow_forward):
        raise ValueError(f"{len(matches)} match sets for {len(flow_forward)} pairs")
    fwd_ok, bwd_ok = valid_forward.copy(), valid_backward.copy()
    cleared = 0
    for i, (pts_a, pts_b) in enumerate(matches):
        if not check_flow(flow_forward[i], valid_forward[i], pts_a, pts_b).trusted:
            fwd_ok[i] = False
            cleared += 1
        if not check_flow(flow_backward[i], valid_backward[i], pts_b, pts_a).trusted:
            bwd_ok[i] = False
            cleared += 1
    return fwd_ok, bwd_ok, cleared
