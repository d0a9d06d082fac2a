"""Is a self-calibrated focal length believable? The field-of-view check of every SfM result in SS3D-ROS.

Registering frames is no proof that COLMAP's focal length is right; the field of view it implies across the longer
image side must be one a pinhole lens can have and self-calibration can pin down. Used by the SfM teacher's store
(:mod:`training.sfm.store`) and by ``ss3d_calibrate`` and the node's online calibration
(:mod:`ss3d_core.calibration.acceptance`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MIN_FOV_DEG", "MAX_FOV_DEG", "field_of_view_deg", "implausible_focal_reason"]

# Registering is no proof that K is right, so the focal length must also give a field of view (across the longer image
# side, a property of the lens whichever way the camera is held) that a pinhole camera can have and self-calibration
# can pin down. Wider than 120°: a fisheye, which the pinhole model with one radial term (SIMPLE_RADIAL, and the
# network's pinhole K) cannot represent, so the lens's distortion went into the focal length instead (the unrectified
# KITTI clip: fx 141 px at 640 px, 132°, where its calibration gives about 440 px, 72°). Rectilinear lenses end near
# 120° (phone ultra-wides, action cameras' linear modes); KITTI-360's perspective camera, the widest calibrated clip
# here, is 103°.
MAX_FOV_DEG = 120.0
# Narrower than 30° (a 3x phone telephoto or a zoomed shot): the views are nearly affine, perspective no longer fixes
# the focal length, and a reconstruction of a rotating or barely translating camera inflates it (the rotation clips
# that register a few frames report fx 1,100-5,300 px at 640 px, 7-32°). The calibrated clips here span 62-103°.
MIN_FOV_DEG = 30.0


def field_of_view_deg(K: np.ndarray | list, width: int, height: int) -> float:
    """The field of view across the longer image side, degrees, of the ``3×3`` pixel ``K`` at ``width×height``
    (``2·atan(max(W, H) / (2·fx))``; one focal length, as SfM's SIMPLE_RADIAL camera has)."""
    return math.degrees(2.0 * math.atan(max(width, height) / (2.0 * float(np.asarray(K)[0][0]))))


def implausible_focal_reason(K: np.ndarray | list, width: int, height: int) -> str | None:
    """Why a reconstruction's focal length is not believed (its field of view outside
    [:data:`MIN_FOV_DEG`, :data:`MAX_FOV_DEG`]), or ``None`` when it is.

    Args:
        K: ``3×3`` intrinsics in pixels at ``width×height``.
        width, height: the image size in pixels.
    """
    fx = float(np.asarray(K)[0][0])
    if not fx > 0:
        return f"SfM focal length {fx:g} px is not positive"
    fov = field_of_view_deg(K, width, height)
    if MIN_FOV_DEG <= fov <= MAX_FOV_DEG:
        return None
    why = ("wider: a fisheye, or lens distortion taken into the focal length" if fov > MAX_FOV_DEG
           else "narrower: near-affine views, which inflate the focal length")
    return (f"SfM focal length {fx:.1f} px at {width}x{height}: a {fov:.0f}° field of view across the longer side, "
            f"outside {MIN_FOV_DEG:g}-{MAX_FOV_DEG:g}° ({why})")
