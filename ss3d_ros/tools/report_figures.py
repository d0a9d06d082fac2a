"""Figures for demo and replay reports: an input | depth contact sheet and a top-down trajectory (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ss3d_eval.figure_file import save_figure  # noqa: E402

# Colour scale of depth previews: inverse depth between these percentiles of the frame (robust to outliers).
DISPARITY_PERCENTILES = (5.0, 95.0)


def colourise_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``H×W`` depth (NaN invalid) -> ``size`` (w, h) uint8 RGB, near = bright (magma on inverse depth)."""
    disparity = np.where(np.isfinite(depth) & (depth > 0), 1.0 / np.maximum(depth, 1e-6), np.nan)
    valid = disparity[np.isfinite(disparity)]
    lo, hi = np.percentile(valid, DISPARITY_PERCENTILES) if valid.size else (0.0, 1.0)
    norm = np.clip((disparity - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
    rgb = (plt.get_cmap("magma")(np.nan_to_num(norm, nan=0.0))[..., :3] * 255).astype(np.uint8)
    rgb[~np.isfinite(disparity)] = 0
    return cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST)


def contact_sheet(
    rows: list[tuple[int, np.ndarray, np.ndarray]], path: Path, title: str, depth_unit: str
) -> Path:
    """Save a grid of ``input | colourised depth`` rows.

    Args:
        rows: ``(stamp_ns, preview h×w×3 uint8 RGB, depth H×W float32)`` per row.
        path: PNG to write.
        title: figure title.
        depth_unit: shown in the column title.
    """
    if not rows:
        raise ValueError("contact sheet needs at least one frame")
    fig, axes = plt.subplots(len(rows), 2, figsize=(8, 2.4 * len(rows)), squeeze=False)
    t0 = rows[0][0]
    for (stamp, preview, depth), (ax_in, ax_depth) in zip(rows, axes):
        h, w = preview.shape[:2]
        ax_in.imshow(preview)
        ax_in.set_ylabel(f"t = {(stamp - t0) * 1e-9:.2f} s")
        ax_depth.imshow(colourise_depth(depth, (w, h)))
        finite = depth[np.isfinite(depth)]
        if finite.size:
            ax_depth.set_xlabel(f"depth {np.percentile(finite, 5):.2f}..{np.percentile(finite, 95):.2f} "
                                f"({depth_unit}, p5..p95)", fontsize=8)
        for ax in (ax_in, ax_depth):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("input")
    axes[0, 1].set_title("predicted depth (near = bright)")
    fig.suptitle(title)
    return save_figure(fig, path, dpi=100)


def trajectory_plot(
    positions: np.ndarray, path: Path, title: str, unit: str, reference: np.ndarray | None = None
) -> Path:
    """Top-down (x forward, y left; REP 103 ``odom``) plot of ``N×3`` positions, optionally with a reference."""
    fig, ax = plt.subplots(figsize=(6, 6))
    if positions.size:
        ax.plot(positions[:, 1], positions[:, 0], "-", color="tab:blue", label="SS3D odometry")
        ax.plot(positions[0, 1], positions[0, 0], "o", color="tab:green", label="start")
        ax.plot(positions[-1, 1], positions[-1, 0], "s", color="tab:red", label="end")
    if reference is not None and reference.size:
        ax.plot(reference[:, 1], reference[:, 0], "--", color="black", label="ground truth (aligned)")
    ax.invert_xaxis()  # y points left
    ax.set_xlabel(f"y (left) [{unit}]")
    ax.set_ylabel(f"x (forward) [{unit}]")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title)
    return save_figure(fig, path, dpi=100)
