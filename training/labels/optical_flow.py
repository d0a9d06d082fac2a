"""Observed optical flow for rigid-flow supervision: OpenCV DIS flow with a forward-backward consistency mask."""

from __future__ import annotations

import cv2
import numpy as np

# Forward-backward check (Meister et al. 2018, UnFlow eq. 5): a pixel is trusted when
# |f_ab + f_ba(p + f_ab)|² < ALPHA (|f_ab|² + |f_ba(p + f_ab)|²) + BETA (pixels²).
FB_ALPHA = 0.01
FB_BETA = 0.5


def dis_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow from RGB ``a`` to ``b`` (``H×W×2`` float32 pixels: where each pixel of ``a`` is in ``b``)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)


def forward_backward_mask(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """``H×W`` bool: pixels of ``a`` whose flow is confirmed by the backward flow and lands inside ``b``."""
    h, w = flow_ab.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = grid_x + flow_ab[..., 0], grid_y + flow_ab[..., 1]
    back = cv2.remap(flow_ba, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mismatch = ((flow_ab + back) ** 2).sum(axis=-1)
    bound = FB_ALPHA * ((flow_ab**2).sum(axis=-1) + (back**2).sum(axis=-1)) + FB_BETA
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return (mismatch < bound) & inside


def pair_flows(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flows between consecutive frames of an ``N×H×W×3`` clip.

    Returns:
        ``(forward, forward_valid, backward, backward_valid)``: ``forward[i]`` is the flow from frame ``i`` to
        ``i+1`` (``N-1×H×W×2`` float16 pixels), ``backward[i]`` from ``i+1`` to ``i``; the masks are ``N-1×H×W`` bool.
    """
    fwd, fwd_ok, bwd, bwd_ok = [], [], [], []
    for a, b in zip(frames[:-1], frames[1:]):
        f_ab, f_ba = dis_flow(a, b), dis_flow(b, a)
        fwd.append(f_ab.astype(np.float16))
        bwd.append(f_ba.astype(np.float16))
        fwd_ok.append(forward_backward_mask(f_ab, f_ba))
        bwd_ok.append(forward_backward_mask(f_ba, f_ab))
    return np.stack(fwd), np.stack(fwd_ok), np.stack(bwd), np.stack(bwd_ok)
