"""Calibrate a camera from a recording of it moving: the moving stretch, COLMAP with the SfM teacher's settings, the
acceptance checks, and the result as a ROS calibration file.

The pipeline of ``ss3d_calibrate`` (:mod:`ss3d_core.calibration.cli`) and of the node's online calibration, which
runs that command in a child process. Frames are reduced to COLMAP's working size as they are read
(:func:`ss3d_core.sfm.runner.working_size`), the longest moving stretch is chosen
(:func:`ss3d_core.calibration.stretch.moving_stretch`), reconstructed in a child process with a time limit
(:func:`ss3d_core.sfm.runner.reconstruct_frames`, settings :mod:`ss3d_core.sfm.settings`: one SIMPLE_RADIAL camera,
principal point at the centre) and accepted or refused (:mod:`ss3d_core.calibration.acceptance`). K is scaled back to
the recording's size (:func:`ss3d_core.camera.scale_K`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ss3d_core.calibration.acceptance import MIN_REGISTERED_FRAMES, rejection_reason
from ss3d_core.calibration.camera_info_file import DISTORTION_COEFFICIENTS, CameraInfoFile
from ss3d_core.calibration.stretch import Stretch, moving_stretch
from ss3d_core.camera import scale_K
from ss3d_core.sfm.reconstruction import ReconstructionError
from ss3d_core.sfm.runner import reconstruct_frames, working_size

__all__ = ["CALIBRATION_RATE_HZ", "DEFAULT_TIMEOUT_S", "MAX_FRAMES", "CalibrationRefused", "CalibrationResult",
           "calibrate_frames"]

# Frames per second handed to the calibration: the SfM teacher's corpus rate
# (training.data.clips.DEFAULT_TARGET_RATE_HZ), at which its settings (sequential overlap 5 = half a second) were
# measured.
CALIBRATION_RATE_HZ = 10.0
# Frames given to COLMAP at most: ten seconds at the calibration rate, the evaluator's cap
# (ss3d_eval.baselines.colmap_selfcalib.MAX_FRAMES: about 1 s per frame on 2 CPU cores).
MAX_FRAMES = 100
# Wall-clock limit of the COLMAP run, seconds: MAX_FRAMES at up to 6 s per frame, a loaded machine with one thread
# (the SfM teacher's slowest clip took 5.4 s per frame with one thread, docs/sfm_teacher.md).
DEFAULT_TIMEOUT_S = 600.0


class CalibrationRefused(ValueError):
    """The recording cannot calibrate the camera; ``str(error)`` is the one-line reason, ``kind`` is ``motion`` (too
    little motion) or ``registration`` (COLMAP registered too little, or its result failed a check)."""

    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class CalibrationResult:
    """A believed self-calibration.

    Attributes:
        K: ``3×3`` float64 pixels at ``width×height`` (the recording's size; ROS pixel-centre convention).
        width, height: the recording's image size, pixels.
        radial_k1: SIMPLE_RADIAL's radial term, on normalised image coordinates (= plumb_bob ``k1``).
        frames_used: frames given to COLMAP; ``registered``: frames it registered.
        reprojection_error_px: COLMAP's mean reprojection error, pixels at its working size.
        seconds: wall-clock time of the reconstruction.
        stretch: :meth:`Stretch.describe` of the scan.
    """

    K: np.ndarray
    width: int
    height: int
    radial_k1: float
    frames_used: int
    registered: int
    reprojection_error_px: float
    seconds: float
    stretch: str

    @property
    def registered_fraction(self) -> float:
        """Share of the frames used that registered."""
        return self.registered / self.frames_used

    def camera_info(self, camera_name: str) -> CameraInfoFile:
        """The result as a ROS calibration (``plumb_bob`` with ``k1`` = the radial term, the rest 0)."""
        D = np.zeros(DISTORTION_COEFFICIENTS["plumb_bob"])
        D[0] = self.radial_k1
        return CameraInfoFile(K=self.K, width=self.width, height=self.height, camera_name=camera_name, D=D)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (pixels at the recording's size)."""
        return {"fx": float(self.K[0, 0]), "fy": float(self.K[1, 1]), "cx": float(self.K[0, 2]),
                "cy": float(self.K[1, 2]), "width": self.width, "height": self.height, "radial_k1": self.radial_k1,
                "frames_used": self.frames_used, "registered": self.registered,
                "registered_fraction": self.registered_fraction, "reprojection_error_px": self.reprojection_error_px,
                "seconds": self.seconds, "stretch": self.stretch}


def _working_frames(frames: Iterable[np.ndarray], size: list[tuple[int, int]]) -> Iterator[np.ndarray]:
    """Frames at COLMAP's working size; the first frame's ``(W, H)`` is appended to ``size``."""
    for rgb in frames:
        h, w = rgb.shape[:2]
        if not size:
            size.append((w, h))
        elif size[0] != (w, h):
            raise ValueError(f"a frame of {w}x{h} in a recording of {size[0][0]}x{size[0][1]}")
        target = working_size(w, h)
        yield rgb if target == (w, h) else cv2.resize(rgb, target, interpolation=cv2.INTER_AREA)


def calibrate_frames(frames: Iterable[np.ndarray], gap: int, timeout_s: float = DEFAULT_TIMEOUT_S,
                     num_threads: int = -1, max_frames: int = MAX_FRAMES) -> CalibrationResult:
    """Self-calibrate one camera from its frames (see the module docstring).

    Args:
        frames: ``H×W×3`` uint8 RGB frames of one size in time order, at about :data:`CALIBRATION_RATE_HZ` (read
            until a moving stretch of ``max_frames`` is found).
        gap: frames between the two frames of a motion test (:func:`ss3d_core.geometry.pair_signal.pair_gap`).
        timeout_s: wall-clock limit of COLMAP, seconds.
        num_threads: COLMAP's CPU threads (``-1``: all cores).
        max_frames: frames given to COLMAP at most.

    Raises:
        CalibrationRefused: too little motion (``motion``), or a model that registered too little or failed a check
            (``registration``).
        ss3d_core.sfm.reconstruction.ReconstructionError: COLMAP could not run (``unavailable``, ``timeout``,
            ``crash``).
        ValueError: frames of different sizes or not ``H×W×3``.
    """
    size: list[tuple[int, int]] = []
    stretch: Stretch = moving_stretch(_working_frames(frames, size), gap, max_frames)
    if stretch.frames_read < MIN_REGISTERED_FRAMES:
        raise CalibrationRefused(f"too few frames: the recording gives {stretch.frames_read} at the calibration rate, "
                                 f"{MIN_REGISTERED_FRAMES} moving frames are needed", "motion")
    if len(stretch.frames) < MIN_REGISTERED_FRAMES:
        raise CalibrationRefused(f"too little motion: {stretch.describe()}; {MIN_REGISTERED_FRAMES} moving frames "
                                 "are needed (record the camera translating: driving, walking, moved by hand)",
                                 "motion")
    try:
        model = reconstruct_frames(stretch.frames, timeout_s=timeout_s, num_threads=num_threads)
    except ReconstructionError as err:
        if err.kind in ("no_model", "too_few_frames"):
            raise CalibrationRefused(f"too little registers: {err}", "registration") from err
        raise
    reason = rejection_reason(model)
    if reason is not None:
        raise CalibrationRefused(reason, "registration")
    width, height = size[0]
    return CalibrationResult(
        K=scale_K(model.K, (model.width, model.height), (width, height)), width=width, height=height,
        radial_k1=float(model.stats["radial_k1"]), frames_used=model.n_frames,
        registered=int(model.stats["registered"]),
        reprojection_error_px=float(model.stats["mean_reprojection_error_px"]), seconds=float(model.stats["seconds"]),
        stretch=stretch.describe())
