"""The COLMAP settings of every reconstruction in SS3D-ROS (training labels and the evaluator's baseline alike).

Incremental structure-from-motion (Schönberger & Frahm, "Structure-from-Motion Revisited", CVPR 2016) through
pycolmap: SIFT on the CPU, sequential matching, incremental mapping, ONE shared camera for all frames of a
reconstruction (``CameraMode.SINGLE``) with COLMAP's default ``SIMPLE_RADIAL`` model (one focal length, principal
point, one radial term). Every option that differs from COLMAP's default is a named constant below with its reason;
everything else is COLMAP's default. COLMAP keeps the principal point at the image centre
(``ba_refine_principal_point = False``), so only the focal length (and the radial term) is self-calibrated.

Bump :data:`SETTINGS_VERSION` whenever a setting here changes what a reconstruction returns: stored results
(:mod:`training.sfm`) keyed by it are then rebuilt, failed clips included.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SETTINGS_VERSION",
    "CAMERA_MODEL",
    "MAX_NUM_FEATURES",
    "INIT_MIN_TRI_ANGLE_DEG",
    "INIT_MAX_FORWARD_MOTION",
    "SEQUENTIAL_OVERLAP",
    "GLOBAL_BA_GROWTH_RATIO",
    "RANDOM_SEED",
    "WORKING_MAX_SIDE_PX",
    "MIN_FRAMES",
    "MIN_TRACK_VIEWS",
    "MAX_LABEL_REPROJECTION_ERROR_PX",
    "settings_record",
    "pycolmap_options",
]

# Version of the settings below and of what a reconstruction returns (see the module docstring).
SETTINGS_VERSION = 1
# COLMAP's default model for self-calibration: one focal length (square pixels), principal point, one radial term.
CAMERA_MODEL = "SIMPLE_RADIAL"
# SIFT features per image (COLMAP's default 8192): 2048 registered KITTI drives fully with 2-5 % focal error
# (issue 23's measurements) at about a quarter of the matching cost, which is quadratic in the feature count.
MAX_NUM_FEATURES = 2048
# Smallest triangulation angle of the initial pair, degrees (COLMAP's default 16°): on forward driving no pair of a
# 10 Hz clip reaches 16°, and COLMAP stops with "Failed to create any sparse model"; 4° initialises such drives.
INIT_MIN_TRI_ANGLE_DEG = 4.0
# Largest forward share of the initial pair's motion (COLMAP's default 0.95): with 0.95 a KITTI drive of 144 frames
# registered 2 of them (forward motion is the whole motion of a car); 0.99 registered all 144.
INIT_MAX_FORWARD_MOTION = 0.99
# Sequential matching: each frame is matched with the next this many frames, and with those 2, 4, 8, 16 frames on
# (quadratic overlap, COLMAP's default). COLMAP's default overlap is 10; at the corpus's 10 Hz, 5 frames are half a
# second. Measured on 100 frames of a KITTI drive and of TartanAir: matching 40 % faster, the same frames registered,
# focal length within 0.2 % of the overlap-10 result.
SEQUENTIAL_OVERLAP = 5
# Global bundle adjustment runs when the model has grown by this factor in frames or points since the last one
# (COLMAP's default 1.1; the final global adjustment runs regardless). Measured on the same clips: mapping 25-35 %
# faster, focal length within 0.3 %.
GLOBAL_BA_GROWTH_RATIO = 1.3
# Seed of COLMAP's random number generators (RANSAC, initial pair trials): the same frames give the same model.
RANDOM_SEED = 0
# Frames are handed to COLMAP with their longest side at most this many pixels (never enlarged), and the results are
# scaled back to the source size. Most web video is 640 px or less already; measured on the corpus and the clips with
# a known calibration in docs/sfm_teacher.md (time per frame against focal-length agreement).
WORKING_MAX_SIDE_PX = 640
# Fewest frames worth a reconstruction: two views fix no focal length; three is the minimum multi-view configuration
# (Hartley & Zisserman 2004, ch. 19, auto-calibration).
MIN_FRAMES = 3
# Sparse depth labels come from 3D points seen in at least this many registered frames: a two-view point has no
# redundancy against a wrong match, a third view checks it (the ≥ 3-view points of issue 23 scored AbsRel 0.062
# against LiDAR).
MIN_TRACK_VIEWS = 3
# Sparse depth labels come from 3D points whose mean reprojection error over their track is below this (pixels at the
# working size). COLMAP keeps points up to filter_max_reproj_error = 4 px; half of that drops the loosest tracks while
# keeping most points (a well-registered model has a mean error near 0.5-1 px).
MAX_LABEL_REPROJECTION_ERROR_PX = 2.0


def settings_record() -> dict[str, Any]:
    """Every setting above as a JSON-ready dict (what stored results are keyed by)."""
    return {
        "version": SETTINGS_VERSION,
        "camera_model": CAMERA_MODEL,
        "max_num_features": MAX_NUM_FEATURES,
        "init_min_tri_angle_deg": INIT_MIN_TRI_ANGLE_DEG,
        "init_max_forward_motion": INIT_MAX_FORWARD_MOTION,
        "sequential_overlap": SEQUENTIAL_OVERLAP,
        "global_ba_growth_ratio": GLOBAL_BA_GROWTH_RATIO,
        "random_seed": RANDOM_SEED,
        "working_max_side_px": WORKING_MAX_SIDE_PX,
        "min_frames": MIN_FRAMES,
        "min_track_views": MIN_TRACK_VIEWS,
        "max_label_reprojection_error_px": MAX_LABEL_REPROJECTION_ERROR_PX,
    }


def pycolmap_options(num_threads: int) -> dict[str, Any]:
    """The pycolmap option objects of one reconstruction (imports pycolmap; called in the child process only).

    Args:
        num_threads: CPU threads of every stage (``-1``: all cores).

    Returns:
        ``{"reader", "extraction", "matching", "pairing", "verification", "mapping"}``: ``ImageReaderOptions``,
        ``FeatureExtractionOptions``, ``FeatureMatchingOptions``, ``SequentialPairingOptions``,
        ``TwoViewGeometryOptions`` and ``IncrementalPipelineOptions`` with the settings of this module.
    """
    import pycolmap

    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = CAMERA_MODEL
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.use_gpu = False
    extraction.num_threads = num_threads
    extraction.sift.max_num_features = MAX_NUM_FEATURES
    matching = pycolmap.FeatureMatchingOptions()
    matching.use_gpu = False
    matching.num_threads = num_threads
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = SEQUENTIAL_OVERLAP
    verification = pycolmap.TwoViewGeometryOptions()
    verification.ransac.random_seed = RANDOM_SEED
    mapping = pycolmap.IncrementalPipelineOptions()
    mapping.num_threads = num_threads
    mapping.random_seed = RANDOM_SEED
    mapping.mapper.init_min_tri_angle = INIT_MIN_TRI_ANGLE_DEG
    mapping.mapper.init_max_forward_motion = INIT_MAX_FORWARD_MOTION
    mapping.ba_global_frames_ratio = GLOBAL_BA_GROWTH_RATIO
    mapping.ba_global_points_ratio = GLOBAL_BA_GROWTH_RATIO
    return {"reader": reader, "extraction": extraction, "matching": matching, "pairing": pairing,
            "verification": verification, "mapping": mapping}
