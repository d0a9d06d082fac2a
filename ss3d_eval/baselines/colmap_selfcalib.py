"""The ``colmap_selfcalib`` baseline: the SfM teacher scored like the model, its self-calibrated K and its poses.

COLMAP's incremental SfM (Schönberger & Frahm 2016) reconstructs a contiguous run of the sequence's frames with the
settings that label the training corpus (:mod:`ss3d_core.sfm.settings`: one shared SIMPLE_RADIAL camera, SIFT,
sequential matching, incremental mapping with a 4° initial triangulation angle, frames at the working size), in a
child process with a timeout (:mod:`ss3d_core.sfm.runner`). A missing pycolmap, a crash inside the C++ library or a
run that takes too long becomes a result with ``status`` ``unavailable`` / ``failed`` and a ``reason``, never an
exception in the evaluator. The result gives the focal length (scored as the model's K) and the camera poses of the
largest model, from which the sequence runner scores the relative pose of every consecutive ground-truth pair the
model is scored on (both frames registered; otherwise the pair counts as failed).

Frames: the first :data:`MAX_FRAMES` frames of those evaluated, a contiguous run, so that every consecutive pair
among them has both of its frames (the previous version spread 30 frames over the sequence, which fixes K but leaves
no consecutive pair). Every dev sequence has fewer frames than that; the cap bounds the run time of a long sequence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np

from ss3d_core.sfm.reconstruction import ReconstructionError, SfmReconstruction
from ss3d_core.sfm.runner import DEFAULT_TIMEOUT_S, colmap_available, reconstruct_frames
from ss3d_core.sfm.settings import CAMERA_MODEL, MIN_FRAMES

__all__ = ["MIN_FRAMES", "MAX_FRAMES", "DEFAULT_TIMEOUT_S", "colmap_available", "colmap_selfcalibration"]

LOG = logging.getLogger(__name__)

# Frames given to COLMAP at most (the first ones; module docstring): about 1 s per frame at the working size on
# 2 CPU cores, so a long sequence costs at most a couple of minutes.
MAX_FRAMES = 100


def colmap_selfcalibration(
    frames: Iterable[np.ndarray], n_frames: int, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[dict[str, object], SfmReconstruction | None]:
    """Reconstruct the first frames of a sequence with the SfM teacher's settings.

    Args:
        frames: the sequence's ``H×W×3`` uint8 RGB frames in time order (at least the first ``min(n_frames,
            MAX_FRAMES)`` are read).
        n_frames: frames available (``frames`` yields at least this many).
        timeout_s: wall-clock limit of the COLMAP child process, seconds.

    Returns:
        ``(result, reconstruction)``. ``result`` is JSON-ready: ``{"status": "ok", "fx", "fy", "cx", "cy"`` (pixels at
        the image size, SS3D-ROS pixel-centre convention), ``"width", "height", "n_images", "n_registered",
        "models", "camera_model", "seconds", "points_per_image", "median_track_length",
        "median_triangulation_angle_deg", "mean_reprojection_error_px", "pycolmap"}`` or ``{"status": "unavailable"
        | "failed" | "skipped", "reason": str}`` with ``"n_images"`` (skipped, failed) and ``"seconds"`` (failed).
        ``reconstruction`` (``None`` unless ``ok``) holds ``T_camera_world`` and ``registered`` of the frames given,
        frame ``i`` being the sequence's frame ``i``.
    """
    ok, version = colmap_available()
    if not ok:
        LOG.debug("colmap_selfcalib unavailable: %s", version)
        return {"status": "unavailable", "reason": version}, None
    n = min(n_frames, MAX_FRAMES)
    if n < MIN_FRAMES:
        return {"status": "skipped", "reason": f"fewer than {MIN_FRAMES} frames", "n_images": n}, None
    start = time.perf_counter()
    try:
        reconstruction = reconstruct_frames((rgb for _, rgb in zip(range(n), frames)), timeout_s=timeout_s)
    except ReconstructionError as err:
        LOG.warning("COLMAP: %s", err)
        return {"status": "failed", "reason": str(err), "n_images": n,
                "seconds": round(time.perf_counter() - start, 2)}, None
    stats, K = reconstruction.stats, reconstruction.K
    result = {
        "status": "ok",
        "fx": float(K[0, 0]),
        "fy": float(K[1, 1]),
        "cx": float(K[0, 2]),
        "cy": float(K[1, 2]),
        "width": reconstruction.width,
        "height": reconstruction.height,
        "n_images": n,
        "n_registered": stats["registered"],
        "camera_model": CAMERA_MODEL,
        "pycolmap": version,
        **{k: stats[k] for k in ("models", "seconds", "points_per_image", "median_track_length",
                                 "median_triangulation_angle_deg", "mean_reprojection_error_px")},
    }
    return result, reconstruction
