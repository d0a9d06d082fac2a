"""One COLMAP reconstruction of a run of frames: shared intrinsics, per-frame poses, per-frame sparse depth, statistics.

Stored as plain files, never pickles: ``reconstruction.json`` (intrinsics, size, statistics) beside one ``.npy`` per
array (:data:`ARRAY_FILES`), read with ``allow_pickle=False``. The child process that runs COLMAP writes it, the
parent reads it (:mod:`ss3d_core.sfm.runner`). This module imports neither pycolmap nor torch.

Conventions (GUIDE §3): pixel centres at integer coordinates (``(0, 0)`` is the centre of the top-left pixel, as in
OpenCV, ROS and :mod:`ss3d_core.camera`; COLMAP's ``(0.5, 0.5)`` is converted on the way out of the child); poses
``T_camera_world`` map world points into the camera's optical frame (COLMAP's ``cam_from_world``; x right, y down,
z forward); the world and its scale are the reconstruction's own (monocular SfM has an arbitrary scale).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ARRAY_FILES", "STATS_KEYS", "ReconstructionError", "SfmReconstruction"]

# The arrays of a reconstruction and their files.
ARRAY_FILES = {
    "T_camera_world": "poses.npy",
    "registered": "registered.npy",
    "points_uvz": "points_uvz.npy",
    "points_offsets": "points_offsets.npy",
}
METADATA_FILE = "reconstruction.json"
# Statistics of every reconstruction (see SfmReconstruction.stats).
STATS_KEYS = ("frames", "registered", "models", "seconds", "points_per_image", "median_track_length",
              "median_triangulation_angle_deg", "mean_reprojection_error_px")


class ReconstructionError(RuntimeError):
    """A reconstruction that produced no model: too few frames, no texture, no initial pair, a crash or a timeout of
    the COLMAP child process. ``str(error)`` is the one-line reason; ``kind`` names the class of failure
    (``too_few_frames``, ``no_model``, ``timeout``, ``crash``) so that a caller can decide whether to retry."""

    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class SfmReconstruction:
    """The largest model of one COLMAP reconstruction of ``N`` frames (Schönberger & Frahm 2016).

    Attributes:
        K: ``3×3`` float64 shared intrinsics, pixels at ``width×height`` (SIMPLE_RADIAL's focal length and principal
            point; its radial term is in ``stats`` as ``radial_k1``, the labels ignore it).
        width, height: image size in pixels that ``K`` and the point coordinates refer to.
        T_camera_world: ``N×4×4`` float64 world -> camera, NaN for frames the model did not register.
        registered: ``N`` bool, frames registered in the model.
        points_uvz: ``M×3`` float32 sparse depth: ``(u, v)`` pixel coordinates of the observation of a 3D point in a
            frame and ``z`` its depth along that frame's optical axis (the model's unit, > 0). Only points seen in at
            least :data:`~ss3d_core.sfm.settings.MIN_TRACK_VIEWS` frames with a mean reprojection error below
            :data:`~ss3d_core.sfm.settings.MAX_LABEL_REPROJECTION_ERROR_PX`.
        points_offsets: ``N+1`` int64: frame ``i``'s points are rows ``points_offsets[i]:points_offsets[i + 1]``.
        stats: ``frames``, ``registered``, ``models`` (models COLMAP made; the arrays are the largest's),
            ``seconds`` (wall clock), ``points_per_image`` (sparse-depth points per registered frame),
            ``median_track_length`` (frames per 3D point), ``median_triangulation_angle_deg`` (per 3D point the
            largest angle between two of its viewing rays), ``mean_reprojection_error_px`` (COLMAP's, over all
            observations, pixels at the working size), ``radial_k1``, ``working_size`` and any other JSON-ready key.
    """

    K: np.ndarray
    width: int
    height: int
    T_camera_world: np.ndarray
    registered: np.ndarray
    points_uvz: np.ndarray
    points_offsets: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.registered)
        if (self.K.shape != (3, 3) or self.T_camera_world.shape != (n, 4, 4) or self.points_offsets.shape != (n + 1,)
                or self.points_uvz.ndim != 2 or self.points_uvz.shape[1] != 3
                or self.points_offsets[-1] != len(self.points_uvz)):
            raise ValueError(f"inconsistent reconstruction arrays: K {self.K.shape}, {n} frames, poses "
                             f"{self.T_camera_world.shape}, offsets {self.points_offsets.shape}, points "
                             f"{self.points_uvz.shape}")

    @property
    def n_frames(self) -> int:
        """Frames given to COLMAP."""
        return len(self.registered)

    def points(self, frame: int) -> np.ndarray:
        """``K_i×3`` float32 ``(u, v, z)`` sparse depth of one frame (empty for an unregistered frame)."""
        return self.points_uvz[self.points_offsets[frame]:self.points_offsets[frame + 1]]

    def with_stats(self, **stats: Any) -> SfmReconstruction:
        """A copy with ``stats`` updated."""
        return replace(self, stats={**self.stats, **stats})

    def write(self, folder: Path) -> None:
        """Write the arrays and ``reconstruction.json`` into an existing ``folder``."""
        for name, filename in ARRAY_FILES.items():
            np.save(folder / filename, np.ascontiguousarray(getattr(self, name)))
        meta = {"K": self.K.tolist(), "width": self.width, "height": self.height, "stats": self.stats}
        (folder / METADATA_FILE).write_text(json.dumps(meta, indent=1) + "\n")

    @classmethod
    def read(cls, folder: Path) -> SfmReconstruction:
        """Read what :meth:`write` wrote.

        Raises:
            FileNotFoundError: a file is missing.
            ValueError: the arrays do not fit together.
        """
        meta = json.loads((folder / METADATA_FILE).read_text())
        arrays = {name: np.load(folder / filename, allow_pickle=False) for name, filename in ARRAY_FILES.items()}
        return cls(K=np.asarray(meta["K"], np.float64), width=int(meta["width"]), height=int(meta["height"]),
                   stats=meta["stats"], **arrays)
