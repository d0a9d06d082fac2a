"""Minimal ``ss3d_eval`` reports with per-item results, for the comparison and adoption tests.

Only the fields that :mod:`ss3d_eval.compare` reads are filled: ``sequences.<name>.depth.per_image``,
``sequences.<name>.pose.per_pair`` and ``sequences.<name>.intrinsics.fx_rel_err``.
"""

from __future__ import annotations

import numpy as np


def sequence(depth=(), rotation=(), fx=None, group=None, moving=True):
    """One sequence block: per-image AbsRel (δ1 = 1 - AbsRel), per-pair rotation (tdir = 10 × rotation) and fx."""
    block = {
        "depth": {"per_image": [{"frame": i, "abs_rel": float(v), "delta1": 1.0 - float(v)}
                                for i, v in enumerate(depth)]} if len(depth) else None,
        "pose": {"per_pair": [{"frame": i + 1, "rot_err_deg": float(v), "moving": moving,
                               "tdir_err_deg": 10.0 * float(v) if moving else None}
                              for i, v in enumerate(rotation)]} if len(rotation) else None,
        "intrinsics": {"fx_rel_err": fx} if fx is not None else None,
    }
    if group is not None:
        block["group"] = group
    return block


def dev_report(seed=0, depth_shift=0.0, rotation_shift=0.0, fx_shift=0.0, noise=0.0, checkpoint="ckpt"):
    """A report shaped like the dev set (depth: TUM 3 single images, NYU 3, DGP 6 cameras × 3, KITTI 78 frames;
    pairs: TUM 3, KITTI 50, DGP 6 × 2, EuRoC 40 static; fx on 13 sequences), with the given shifts added to every item
    and optional per-item noise (a different seed gives a different draw)."""
    rng = np.random.default_rng(seed)

    def values(base, n, shift):
        return np.clip(np.asarray(base, dtype=float) + shift + noise * rng.standard_normal(n), 1e-4, None)

    base = np.random.default_rng(1234)  # the same scene errors in every report: only shift and noise differ
    sequences = {
        "tum_a": sequence(values(base.uniform(0.10, 0.25, 1), 1, depth_shift),
                          values(base.uniform(0.5, 1.5, 1), 1, rotation_shift), fx=0.20 + fx_shift),
        "tum_b": sequence(values(base.uniform(0.10, 0.25, 1), 1, depth_shift),
                          values(base.uniform(0.5, 1.5, 1), 1, rotation_shift), fx=0.22 + fx_shift),
        "tum_c": sequence(values(base.uniform(0.10, 0.25, 1), 1, depth_shift),
                          values(base.uniform(0.5, 1.5, 1), 1, rotation_shift), fx=0.18 + fx_shift),
        "nyu_v2": sequence(values(base.uniform(0.15, 0.30, 3), 3, depth_shift), fx=0.05 + fx_shift),
        "kitti_raw": sequence(values(base.uniform(0.10, 0.20, 78), 78, depth_shift), fx=0.10 + fx_shift),
        "kitti_odom": sequence(rotation=values(base.uniform(0.05, 0.30, 50), 50, rotation_shift),
                               fx=0.12 + fx_shift),
        "euroc_static": sequence(rotation=values(base.uniform(0.0, 0.05, 40), 40, rotation_shift), moving=False,
                                 fx=0.30 + fx_shift),
    }
    for cam in range(6):
        sequences[f"dgp_cam{cam}"] = sequence(values(base.uniform(0.3, 0.6, 3), 3, depth_shift),
                                              values(base.uniform(0.1, 0.9, 2), 2, rotation_shift),
                                              fx=float(base.uniform(0.1, 0.8)) + fx_shift)
    return {"checkpoint": checkpoint, "sequences": sequences}
