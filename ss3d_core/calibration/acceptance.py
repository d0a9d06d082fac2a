"""When is a self-calibration believed? The checks that ``ss3d_calibrate`` and the node's online calibration share.

A COLMAP model (:class:`ss3d_core.sfm.reconstruction.SfmReconstruction`) gives a camera's K only if it registered
enough of the frames it was given, with a small reprojection error, and its focal length gives a field of view a
pinhole lens can have (:func:`ss3d_core.sfm.plausibility.implausible_focal_reason`). The thresholds come from the SfM
teacher's comparison against published calibrations (docs/sfm_teacher.md, "Focal length against public
calibrations"): every clip that registered at least 72 % of its frames and at least 20 of them pinned fx within 3 %
(KITTI drives 51/51-268/268, TartanAir 137/189); those that did not were off by 4-22 % (TUM cabinet 4/58 −4.1 %, ICL
15/30 +6.0 %, nuScenes 47/100 −21.9 %).
"""

from __future__ import annotations

from ss3d_core.sfm.plausibility import implausible_focal_reason
from ss3d_core.sfm.reconstruction import SfmReconstruction
from ss3d_core.sfm.settings import MAX_LABEL_REPROJECTION_ERROR_PX

__all__ = ["MIN_REGISTERED_FRACTION", "MIN_REGISTERED_FRAMES", "MAX_MEAN_REPROJECTION_ERROR_PX",
           "rejection_reason"]

# Share of the frames given to COLMAP that must register (module docstring: 0.72 and above calibrated within 3 %,
# 0.47-0.5 did not).
MIN_REGISTERED_FRACTION = 0.7
# Registered frames needed, one more than the ICL model that was 6 % off with 15 (module docstring; the calibrated
# ones had 20 or more). Also the fewest frames worth handing to COLMAP for a calibration.
MIN_REGISTERED_FRAMES = 16
# Mean reprojection error of the model, pixels at COLMAP's working size: the SfM teacher's label threshold
# (ss3d_core.sfm.settings.MAX_LABEL_REPROJECTION_ERROR_PX; a well-registered model has 0.5-1 px).
MAX_MEAN_REPROJECTION_ERROR_PX = MAX_LABEL_REPROJECTION_ERROR_PX


def rejection_reason(reconstruction: SfmReconstruction) -> str | None:
    """Why ``reconstruction``'s K is not believed (one line), or ``None`` when it passes every check above.

    Args:
        reconstruction: a model with ``stats["registered"]`` and ``stats["mean_reprojection_error_px"]``, ``K`` in
            pixels at ``width×height``.
    """
    n, registered = reconstruction.n_frames, int(reconstruction.stats["registered"])
    if registered < MIN_REGISTERED_FRAMES or registered < MIN_REGISTERED_FRACTION * n:
        return (f"COLMAP registered {registered} of {n} frames (needs at least {MIN_REGISTERED_FRAMES} and "
                f"{MIN_REGISTERED_FRACTION:.0%})")
    error = float(reconstruction.stats["mean_reprojection_error_px"])
    if not error <= MAX_MEAN_REPROJECTION_ERROR_PX:
        return (f"mean reprojection error {error:.2f} px is above {MAX_MEAN_REPROJECTION_ERROR_PX:g} px: the model "
                "does not fit one pinhole camera")
    return implausible_focal_reason(reconstruction.K, reconstruction.width, reconstruction.height)
