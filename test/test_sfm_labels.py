"""The SfM teacher's labels in the batch (training/sfm/triplet_labels.py) and its loss terms in the module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transforms3d

from ss3d_core.camera import K_from_normalised
from ss3d_core.losses.triangulated_depth import triangulated_depth_loss
from training.data.augmentation import CropWindow, crop_resize_matrix, flip_matrix
from training.fit.module import SFM_MIN_DEPTH_POINTS, SS3DLightningModule
from training.sfm.store import SfmLabels
from training.sfm.triplet_labels import SFM_KEYS, triplet_labels

SOURCE_W, SOURCE_H = 640, 360
W, H = 224, 128
K_SOURCE = np.array([[500.0, 0.0, 322.0], [0.0, 500.0, 178.0], [0.0, 0.0, 1.0]])


def _T(axis_angle, t) -> np.ndarray:
    T = np.eye(4)
    angle = np.linalg.norm(axis_angle)
    if angle > 0:
        T[:3, :3] = transforms3d.axangles.axangle2mat(np.asarray(axis_angle) / angle, angle)
    T[:3, 3] = t
    return T


def _scene(seed: int = 0):
    """Three registered frames looking at random points; frame 1 is the target, its points its sparse depth."""
    rng = np.random.default_rng(seed)
    T_camera_world = np.stack([_T([0.0, 0.01, 0.0], [0.1, 0.0, -0.5]), np.eye(4),
                               _T([0.005, -0.01, 0.002], [-0.1, 0.02, 0.5])])
    world = np.c_[rng.uniform(-4, 4, 400), rng.uniform(-2, 2, 400), rng.uniform(4, 20, 400)]
    uvw = world @ K_SOURCE.T
    uv = uvw[:, :2] / uvw[:, 2:]
    keep = (uv[:, 0] > 0) & (uv[:, 0] < SOURCE_W - 1) & (uv[:, 1] > 0) & (uv[:, 1] < SOURCE_H - 1)
    points = np.c_[uv[keep], world[keep, 2]].astype(np.float32)
    offsets = np.array([0, 0, len(points), len(points)])
    labels = SfmLabels(clip="synthetic", K=K_SOURCE, width=SOURCE_W, height=SOURCE_H, T_camera_world=T_camera_world,
                       registered=np.ones(3, bool), segment=np.zeros(3, np.int64), points_uvz=points,
                       points_offsets=offsets)
    return labels, world[keep]


def _to_training_pixels(uv: np.ndarray, A: np.ndarray) -> np.ndarray:
    u = (uv[:, 0] + 0.5) * W / SOURCE_W - 0.5
    v = (uv[:, 1] + 0.5) * H / SOURCE_H - 0.5
    return (A @ np.stack([u, v, np.ones_like(u)]))[:2].T


@pytest.mark.parametrize("crop, flip", [(None, False), (CropWindow(20, 10, 170, 100), False),
                                        (CropWindow(30, 5, 160, 110), True), (None, True)])
def test_labels_follow_the_crop_and_flip_of_the_frames(crop, flip):
    """The mapped sparse depth, K and pose reproject every target point onto the pixel where the augmented previous
    frame shows it, as labels computed on the cropped and flipped frames would."""
    labels, world = _scene()
    A = np.eye(3)
    if crop is not None:
        A = crop_resize_matrix(crop, H, W) @ A
    if flip:
        A = flip_matrix(W) @ A
    out = triplet_labels(labels, 1, A, W, H)
    assert set(out) == set(SFM_KEYS) and out["sfm_intrinsics_valid"] and out["sfm_rotation_valid"].all()
    K = K_from_normalised(out["sfm_intrinsics"][None].double(), W, H)[0].numpy()
    depth, valid = out["sfm_depth"][0].numpy(), out["sfm_depth_valid"][0].numpy()
    rows, cols = np.nonzero(valid)
    assert len(rows) > 100
    # Each labelled pixel back-projects (mapped K, label depth) to a target point; the mapped T_prev_tgt carries it
    # into the previous camera, the mapped K projects it.
    X = np.linalg.inv(K) @ np.stack([cols, rows, np.ones_like(cols)]) * depth[rows, cols]
    T_prev_tgt = out["sfm_poses"][0].double().numpy()
    projected = K @ (T_prev_tgt[:3, :3] @ X + T_prev_tgt[:3, 3:])
    projected = (projected[:2] / projected[2]).T
    # Ground truth: the scene point each labelled pixel holds (its depth identifies it), seen by the previous frame,
    # mapped like that frame's image.
    which = np.argmin(np.abs(depth[rows, cols][:, None] - world[None, :, 2].astype(np.float32)), axis=1)
    assert np.allclose(depth[rows, cols], world[which, 2], rtol=1e-6)
    target_px = _to_training_pixels((world @ K_SOURCE.T)[:, :2] / world[:, 2:], A)[which]
    assert np.abs(target_px - np.stack([cols, rows], 1)).max() <= 0.5 + 1e-6  # rounded to its own pixel
    prev = (world @ labels.T_camera_world[0][:3, :3].T + labels.T_camera_world[0][:3, 3]) @ K_SOURCE.T
    expected = _to_training_pixels(prev[:, :2] / prev[:, 2:], A)[which]
    # Rounding the target point to its pixel moves it by up to 0.71 px; the motion is small, so the source pixel too.
    assert np.abs(projected - expected).max() < 0.8


def test_unregistered_frames_and_clips_have_no_labels():
    labels, _ = _scene()
    empty = triplet_labels(None, 1, np.eye(3), W, H)
    assert not empty["sfm_intrinsics_valid"] and not empty["sfm_rotation_valid"].any()
    assert not empty["sfm_depth_valid"].any()
    registered = labels.registered.copy()
    registered[2] = False
    partial = triplet_labels(SfmLabels(**{**labels.__dict__, "registered": registered}), 1, np.eye(3), W, H)
    assert partial["sfm_rotation_valid"].tolist() == [True, False]
    assert partial["sfm_translation_valid"].tolist() == [True, False]
    other_segment = triplet_labels(SfmLabels(**{**labels.__dict__, "segment": np.array([0, 1, 1])}), 1, np.eye(3), W,
                                   H)
    assert other_segment["sfm_rotation_valid"].tolist() == [False, True]


def _batch(b: int = 2) -> dict[str, torch.Tensor]:
    labels, _ = _scene()
    samples = [triplet_labels(labels, 1, np.eye(3), 96, 64) for _ in range(b)]
    batch = torch.utils.data.default_collate(samples)
    batch["frames"] = torch.rand(b, 3, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    batch["clip"] = ["synthetic"] * b
    return batch


def test_each_sfm_term_is_zero_at_its_label_and_positive_away_from_it(tiny_config):
    batch = _batch()
    module = SS3DLightningModule(net=tiny_config, sfm_depth_weight=1.0, sfm_rotation_weight=10.0,
                                 sfm_translation_weight=10.0, sfm_intrinsics_weight=1.0)
    depth_label, valid = batch["sfm_depth"], batch["sfm_depth_valid"]
    assert int(valid[0].sum()) >= SFM_MIN_DEPTH_POINTS
    exact = torch.where(valid, 3.7 * depth_label, torch.ones_like(depth_label))  # another scale: still exact
    poses = tuple(batch["sfm_poses"][:, i].clone() for i in range(2))
    for T in poses:
        T[:, :3, 3] *= 2.5  # another translation scale: the direction is what is scored
    terms = {"total": torch.zeros(())}
    module._add_sfm_terms(terms, batch, exact, poses, batch["sfm_intrinsics"].clone())
    for name in ("sfm_depth", "sfm_rotation", "sfm_translation", "sfm_intrinsics"):
        assert float(terms[name]) == pytest.approx(0.0, abs=2e-4), name
    noisy = exact * (1 + 0.3 * torch.rand(exact.shape, generator=torch.Generator().manual_seed(1)))
    off = tuple(T.clone() for T in poses)
    for T in off:
        T[:, :3, :3] = torch.from_numpy(_T([0.0, 0.02, 0.0], [0, 0, 0])[:3, :3]).float() @ T[:, :3, :3]
        T[:, :3, 3] += torch.tensor([0.3, 0.0, 0.0])
    away = {"total": torch.zeros(())}
    module._add_sfm_terms(away, batch, noisy, off, batch["sfm_intrinsics"] + 0.05)
    assert float(away["sfm_rotation"]) == pytest.approx(0.02, rel=0.05)
    assert float(away["sfm_intrinsics"]) == pytest.approx(0.05, rel=1e-3)
    assert float(away["sfm_depth"]) > 0.05 and float(away["sfm_translation"]) > 0.01
    assert float(away["total"]) == pytest.approx(
        float(away["sfm_depth"] + 10 * away["sfm_rotation"] + 10 * away["sfm_translation"] + away["sfm_intrinsics"]),
        rel=1e-5)
    assert float(triangulated_depth_loss(noisy, depth_label, valid, SFM_MIN_DEPTH_POINTS)) == pytest.approx(
        float(away["sfm_depth"]))


def test_the_per_clip_k_term_weighs_every_clip_once(tiny_config):
    """sfm_intrinsics_per_clip: the plain mean when every clip has one sample; a clip with two samples weighs as much
    as one with a single sample; samples without a label are left out before the grouping."""
    batch = _batch(3)
    offsets = torch.tensor([0.1, 0.2, 0.4])[:, None]
    predicted = batch["sfm_intrinsics"] + offsets
    plain = SS3DLightningModule(net=tiny_config, sfm_intrinsics_weight=1.0)
    per_clip = SS3DLightningModule(net=tiny_config, sfm_intrinsics_weight=1.0, sfm_intrinsics_per_clip=True)

    def k_term(module: SS3DLightningModule, clips: list[str], valid: list[bool] | None = None) -> float:
        terms = {"total": torch.zeros(())}
        labelled = {**batch, "clip": clips}
        if valid is not None:
            labelled["sfm_intrinsics_valid"] = torch.tensor(valid)
        module._add_sfm_terms(terms, labelled, None, tuple(batch["sfm_poses"][:, i] for i in range(2)), predicted)
        return float(terms["sfm_intrinsics"])

    assert k_term(per_clip, ["x", "y", "z"]) == pytest.approx(k_term(plain, ["x", "y", "z"])) == pytest.approx(0.7 / 3)
    assert k_term(plain, ["x", "x", "y"]) == pytest.approx(0.7 / 3)
    assert k_term(per_clip, ["x", "x", "y"]) == pytest.approx((0.15 + 0.4) / 2)
    assert k_term(per_clip, ["x", "x", "y"], [False, True, True]) == pytest.approx((0.2 + 0.4) / 2)


def test_batches_without_labels_skip_the_sfm_terms(tiny_config):
    batch = _batch()
    for key in ("sfm_intrinsics_valid", "sfm_rotation_valid", "sfm_translation_valid", "sfm_depth_valid"):
        batch[key] = torch.zeros_like(batch[key])
    module = SS3DLightningModule(net=tiny_config, sfm_depth_weight=1.0, sfm_rotation_weight=10.0,
                                 sfm_translation_weight=10.0, sfm_intrinsics_weight=1.0)
    terms, _ = module._step(batch, augment=False)
    assert not any(name.startswith("sfm_") for name in terms)
    labelled = _batch()
    terms, _ = module._step(labelled, augment=False)
    assert {"sfm_depth", "sfm_rotation", "sfm_translation", "sfm_intrinsics"} <= set(terms)
    terms["total"].backward()
    assert module.net.motion_head.pose.weight.grad.abs().sum() > 0
