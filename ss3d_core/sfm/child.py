"""The child process of one COLMAP reconstruction: ``python -m ss3d_core.sfm.child --images DIR --out DIR``.

Runs pycolmap on the frames of ``--images`` (file names in time order) with the settings of
:mod:`ss3d_core.sfm.settings` and writes the largest model into ``--out`` (:meth:`SfmReconstruction.write`, pixels at
the frames' size), or ``failure.json`` (``{"reason", "kind"}``) when COLMAP made no model. It exits 0 in both cases;
any other exit (a crash inside the C++ library, a kill at the parent's timeout) is the parent's to report
(:func:`ss3d_core.sfm.runner.reconstruct_frames`). Only numpy and pycolmap are imported: a child starts in about a
second.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from ss3d_core.sfm.reconstruction import ReconstructionError, SfmReconstruction
from ss3d_core.sfm.settings import (
    MAX_LABEL_REPROJECTION_ERROR_PX,
    MIN_TRACK_VIEWS,
    RANDOM_SEED,
    pycolmap_options,
)

__all__ = ["FAILURE_FILE", "reconstruct", "main"]

FAILURE_FILE = "failure.json"
# COLMAP puts the centre of the top-left pixel at (0.5, 0.5), SS3D-ROS at (0, 0) (ss3d_core.camera): subtract this.
COLMAP_PIXEL_CENTRE_OFFSET = 0.5


def reconstruct(images: Path, work: Path, num_threads: int) -> SfmReconstruction:
    """Extract, match and map the frames of ``images`` (sorted by name) into ``work``; return the largest model.

    Args:
        images: folder of the frames, one image file each, names sorting in time order.
        work: empty scratch folder (COLMAP database and models).
        num_threads: CPU threads of every COLMAP stage (``-1``: all cores).

    Returns:
        :class:`SfmReconstruction` at the frames' size, ``stats`` without ``seconds``.

    Raises:
        ReconstructionError: ``kind="no_model"`` when COLMAP made no model (the reason gives the feature and
            verified-pair counts that tell texture from parallax).
    """
    import pycolmap

    pycolmap.set_random_seed(RANDOM_SEED)
    names = sorted(p.name for p in images.iterdir())
    options = pycolmap_options(num_threads)
    database = work / "database.db"
    pycolmap.extract_features(database, images, image_names=names, camera_mode=pycolmap.CameraMode.SINGLE,
                              reader_options=options["reader"], extraction_options=options["extraction"],
                              device=pycolmap.Device.cpu)
    pycolmap.match_sequential(database, matching_options=options["matching"], pairing_options=options["pairing"],
                              verification_options=options["verification"], device=pycolmap.Device.cpu)
    (work / "sparse").mkdir()
    models = pycolmap.incremental_mapping(database, images, work / "sparse", options=options["mapping"])
    if not models:
        raise ReconstructionError(_no_model_reason(pycolmap, database, len(names)), "no_model")
    best = max(models.values(), key=lambda model: model.num_reg_images())
    return _arrays(best, names, len(models))


def _no_model_reason(pycolmap, database: Path, n_frames: int) -> str:
    """One line: why there is no model, with the counts that tell "no texture" from "no parallax"."""
    db = pycolmap.Database.open(database)
    try:
        features = [db.num_keypoints_for_image(image.image_id) for image in db.read_all_images()]
        pairs = db.num_verified_image_pairs()
    finally:
        db.close()
    median = int(np.median(features)) if features else 0
    return (f"COLMAP made no model from {n_frames} frames: median {median} SIFT features per frame, {pairs} verified "
            "frame pairs (no texture, too little parallax, or no initial pair)")


def _arrays(model, names: list[str], n_models: int) -> SfmReconstruction:
    """Poses, sparse depth and statistics of one pycolmap ``Reconstruction`` over the frames ``names``."""
    n = len(names)
    index = {name: i for i, name in enumerate(names)}
    camera = next(iter(model.cameras.values()))
    f, cx, cy, k1 = (float(v) for v in camera.params)  # SIMPLE_RADIAL: f, cx, cy, k
    K = np.array([[f, 0.0, cx - COLMAP_PIXEL_CENTRE_OFFSET], [0.0, f, cy - COLMAP_PIXEL_CENTRE_OFFSET],
                  [0.0, 0.0, 1.0]])
    T_camera_world = np.full((n, 4, 4), np.nan)
    centres = np.full((n, 3), np.nan)
    frame_of_image = {}
    for image_id in model.reg_image_ids():
        image = model.image(image_id)
        i = index[image.name]
        frame_of_image[image_id] = i
        T_camera_world[i, :3] = image.cam_from_world().matrix()  # 3×4 [R | t]
        T_camera_world[i, 3] = (0.0, 0.0, 0.0, 1.0)
        centres[i] = image.projection_center()
    registered = ~np.isnan(T_camera_world[:, 0, 0])
    keypoints = {image_id: model.image(image_id).points2D for image_id in frame_of_image}
    obs_point, obs_frame, obs_uv, xyz, errors, track_lengths, angles = [], [], [], [], [], [], []
    for point in model.points3D.values():
        elements = point.track.elements
        frames = [frame_of_image[e.image_id] for e in elements]
        xyz.append(point.xyz)
        errors.append(point.error)
        track_lengths.append(len(elements))
        angles.append(_largest_ray_angle_deg(centres[frames], point.xyz))
        obs_point += [len(xyz) - 1] * len(elements)
        obs_frame += frames
        obs_uv += [keypoints[e.image_id][e.point2D_idx].xy for e in elements]
    xyz_arr = np.asarray(xyz, np.float64).reshape(-1, 3)
    obs_point_arr = np.asarray(obs_point, np.int64)
    obs_frame_arr = np.asarray(obs_frame, np.int64)
    uv = np.asarray(obs_uv, np.float64).reshape(-1, 2) - COLMAP_PIXEL_CENTRE_OFFSET
    R, t = T_camera_world[obs_frame_arr, :3, :3], T_camera_world[obs_frame_arr, :3, 3]
    z = np.einsum("nj,nj->n", R[:, 2], xyz_arr[obs_point_arr]) + t[:, 2]
    keep = ((np.asarray(track_lengths)[obs_point_arr] >= MIN_TRACK_VIEWS)
            & (np.asarray(errors)[obs_point_arr] < MAX_LABEL_REPROJECTION_ERROR_PX) & (z > 0))
    order = np.argsort(obs_frame_arr[keep], kind="stable")
    points_uvz = np.column_stack([uv[keep], z[keep]])[order].astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(obs_frame_arr[keep], minlength=n))]).astype(np.int64)
    n_registered = int(registered.sum())
    stats = {
        "frames": n,
        "registered": n_registered,
        "models": n_models,
        "points_per_image": len(points_uvz) / max(n_registered, 1),
        "median_track_length": float(np.median(track_lengths)) if track_lengths else None,
        "median_triangulation_angle_deg": float(np.median(angles)) if angles else None,
        "mean_reprojection_error_px": float(model.compute_mean_reprojection_error()),
        "radial_k1": k1,
        "working_size": [int(camera.width), int(camera.height)],
    }
    return SfmReconstruction(K, int(camera.width), int(camera.height), T_camera_world, registered, points_uvz,
                             offsets, stats)


def _largest_ray_angle_deg(centres: np.ndarray, xyz: np.ndarray) -> float:
    """Largest angle (degrees) between the rays from a 3D point to the ``L×3`` centres of the cameras that see it:
    the parallax COLMAP's own triangulation checks (``filter_min_tri_angle``) look at."""
    rays = centres - xyz
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    return math.degrees(math.acos(float(np.clip((rays @ rays.T).min(), -1.0, 1.0))))


def main(argv: list[str] | None = None) -> int:
    """Run one reconstruction (see the module docstring); returns 0 with a model or a failure file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=Path, required=True, help="frames, names in time order")
    parser.add_argument("--work", type=Path, required=True, help="empty scratch folder")
    parser.add_argument("--out", type=Path, required=True, help="existing folder for the result")
    parser.add_argument("--threads", type=int, default=-1, help="CPU threads of every COLMAP stage (-1: all)")
    args = parser.parse_args(argv)
    try:
        reconstruct(args.images, args.work, args.threads).write(args.out)
    except ReconstructionError as err:
        (args.out / FAILURE_FILE).write_text(json.dumps({"reason": str(err), "kind": err.kind}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
