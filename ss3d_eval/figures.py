"""Evaluation figures (matplotlib, Agg backend, PNG): depth error maps and top-down trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ss3d_eval.figure_file import save_figure
from ss3d_eval.pose_metrics import AteResult
from ss3d_eval.sequence_runner import DepthSample

__all__ = ["depth_error_figure", "trajectory_figure", "top_down_axes"]

# Figure resolution (dots per inch): legible at a report's width, small files.
DPI = 100
# Percentiles of the valid GT depth spanning the shared depth colour range (robust to a few far/near outliers).
DEPTH_COLOUR_PERCENTILES = (1.0, 99.0)
# Upper end of the abs-rel colour range: errors of 50 % and more saturate.
ABS_REL_COLOUR_MAX = 0.5


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def depth_error_figure(sample: DepthSample, title: str, path: Path) -> Path:
    """Save ``input | predicted depth | GT depth | abs-rel error`` with colourbars as a PNG.

    Args:
        sample: a :class:`DepthSample` (prediction already median-scaled, at the GT resolution, metres).
        title: figure title.
        path: output ``.png`` path (parent folders are created).

    Returns:
        ``path``.
    """
    plt = _pyplot()
    valid = np.isfinite(sample.gt_m) & (sample.gt_m > 0)
    lo, hi = (np.percentile(sample.gt_m[valid], DEPTH_COLOUR_PERCENTILES) if valid.any() else (0.0, 1.0))
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.8), dpi=DPI)
    panels = (
        ("input", sample.rgb, {}),
        ("predicted depth (median-scaled, m)", sample.pred_m, {"cmap": "magma_r", "vmin": lo, "vmax": hi}),
        ("GT depth (m)", np.where(valid, sample.gt_m, np.nan), {"cmap": "magma_r", "vmin": lo, "vmax": hi}),
        ("abs-rel error |gt-pred|/gt", sample.abs_rel_map, {"cmap": "inferno", "vmin": 0.0,
                                                            "vmax": ABS_REL_COLOUR_MAX}),
    )
    for ax, (name, image, style) in zip(axes, panels):
        handle = ax.imshow(image, **style)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
        if style:
            fig.colorbar(handle, ax=ax, fraction=0.046, pad=0.02)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def top_down_axes(positions_gt: np.ndarray) -> np.ndarray:
    """``2×3`` projection onto the two principal directions of the GT positions (largest spread first).

    The world's "up" axis differs between datasets (TUM/EuRoC: z up; KITTI camera world: y down), so "top-down" is
    taken generically as the plane of largest motion (PCA of the ``N×3`` positions, metres).
    """
    centred = positions_gt - positions_gt.mean(axis=0)
    if len(positions_gt) < 2 or not np.any(centred):
        return np.eye(3)[:2]
    _, _, vt = np.linalg.svd(centred, full_matrices=True)
    return vt[:2]


def trajectory_figure(ate: AteResult, title: str, path: Path) -> Path:
    """Save the top-down GT trajectory and the Sim(3)-aligned estimate (metres) as a PNG.

    Args:
        ate: an :class:`AteResult` with ``positions_est_aligned`` (``None``: only the GT is drawn).
        title: figure title.
        path: output ``.png`` path.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    axes = top_down_axes(ate.positions_gt)
    origin = ate.positions_gt.mean(axis=0)
    gt_2d = (ate.positions_gt - origin) @ axes.T
    fig, ax = plt.subplots(figsize=(6, 6), dpi=DPI)
    ax.plot(gt_2d[:, 0], gt_2d[:, 1], "-o", color="black", markersize=3, label="ground truth")
    if ate.positions_est_aligned is not None:
        est_2d = (ate.positions_est_aligned - origin) @ axes.T
        ax.plot(est_2d[:, 0], est_2d[:, 1], "-o", color="tab:red", markersize=3,
                label=f"model, Sim(3)-aligned (ATE {ate.rmse_m:.4f} m, scale {ate.scale:.3g})")
    ax.plot(gt_2d[:1, 0], gt_2d[:1, 1], "s", color="tab:green", label="start")
    ax.set_xlabel("principal axis 1 (m)")
    ax.set_ylabel("principal axis 2 (m)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title + ("" if ate.rmse_m is not None else f"\n(no alignment: {ate.reason})"), fontsize=10)
    return save_figure(fig, path)
