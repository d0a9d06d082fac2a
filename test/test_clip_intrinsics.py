"""Per-clip focal-length estimates and their consistency term (training/fit/clip_intrinsics.py, the module's
clip_focal_consistency_weight)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.data.augmentation import CropWindow, augmented_intrinsics, crop_resize_matrix, flip_matrix
from training.fit.clip_intrinsics import ClipFocalEstimates, clip_balanced_mean, uncropped_log_focal
from training.fit.module import CLIP_FOCAL_CHECKPOINT_KEY, SS3DLightningModule


def test_an_estimate_is_seeded_by_its_first_sample_and_moves_by_the_momentum():
    estimates = ClipFocalEstimates(momentum=0.9)
    assert estimates.estimate("a") is None
    estimates.update(["a"], torch.tensor([[0.1, 0.2]]))
    assert torch.allclose(estimates.estimate("a"), torch.tensor([0.1, 0.2], dtype=torch.float64))
    # Two samples of "a" in one batch fold in order; "b" is seeded by its own first sample.
    estimates.update(["a", "b", "a"], torch.tensor([[1.1, 1.2], [3.0, -3.0], [0.0, 0.0]]))
    first = 0.9 * np.array([0.1, 0.2]) + 0.1 * np.array([1.1, 1.2])
    assert np.allclose(estimates.estimate("a").numpy(), 0.9 * first)
    assert np.allclose(estimates.estimate("b").numpy(), [3.0, -3.0])
    assert len(estimates) == 2
    with pytest.raises(ValueError, match="momentum"):
        ClipFocalEstimates(momentum=1.0)
    with pytest.raises(ValueError, match="B×2"):
        estimates.update(["a", "b"], torch.zeros(1, 2))


def test_a_non_finite_prediction_is_dropped_not_folded_in():
    estimates = ClipFocalEstimates()
    estimates.update(["a"], torch.tensor([[0.1, 0.2]]))
    estimates.update(["a", "a"], torch.tensor([[float("nan"), 0.0], [0.1, 0.2]]))
    assert estimates.dropped == 1
    assert torch.allclose(estimates.estimate("a"), torch.tensor([0.1, 0.2], dtype=torch.float64))


def test_the_loss_is_zero_at_the_estimate_grows_with_the_deviation_and_pulls_only_the_prediction():
    estimates = ClipFocalEstimates()
    assert estimates.loss(["a"], torch.zeros(1, 2)) is None  # nothing seeded yet
    estimates.update(["a", "b"], torch.tensor([[-0.2, 0.3], [0.5, 0.5]]))
    at = torch.tensor([[-0.2, 0.3], [0.5, 0.5], [9.0, 9.0]])  # the third sample's clip has no estimate
    assert float(estimates.loss(["a", "b", "c"], at)) == pytest.approx(0.0, abs=1e-7)
    losses = [float(estimates.loss(["a", "b"], at[:2] + torch.tensor([[d, -d], [0.0, 0.0]]))) for d in (0.05, 0.1, 0.2)]
    assert losses == pytest.approx([0.025, 0.05, 0.1])  # mean of |d|, |d|, 0, 0
    prediction = (at + 0.1).requires_grad_()
    estimates.loss(["a", "b", "c"], prediction).backward()
    expected = torch.full((3, 2), 0.25)
    expected[2] = 0.0  # an unseeded clip's sample gets no gradient
    assert torch.allclose(prediction.grad, expected)
    before = estimates.state_dict()
    estimates.loss(["a", "b"], at[:2])
    assert estimates.state_dict() == before  # scoring never moves the estimates


def test_the_uncropped_log_focal_is_the_same_for_every_crop_and_flip_of_one_camera():
    w, h = 96, 64
    K = [0.8, 1.1, 0.5, 0.52]
    maps = [np.eye(3), crop_resize_matrix(CropWindow(10, 4, 70, 50), h, w),
            flip_matrix(w) @ crop_resize_matrix(CropWindow(0, 10, 80, 44), h, w)]
    intrinsics = torch.tensor(np.stack([augmented_intrinsics(K, A, w, h) for A in maps]))
    crop_scale = torch.tensor([[abs(A[0, 0]), abs(A[1, 1])] for A in maps])
    assert not torch.allclose(intrinsics[0, :2], intrinsics[1, :2])  # the crop did change the sample's focal
    log_focal = uncropped_log_focal(intrinsics, crop_scale)
    assert torch.allclose(log_focal, torch.tensor([[math.log(0.8), math.log(1.1)]] * 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="B×2"):
        uncropped_log_focal(intrinsics, crop_scale[:2])


def test_the_clip_balanced_mean_weighs_every_clip_once():
    distinct = torch.tensor([0.1, 0.4, 0.7])
    assert float(clip_balanced_mean(distinct, ["a", "b", "c"])) == pytest.approx(float(distinct.mean()))
    values = torch.tensor([1.0, 1.0, 1.0, 4.0])
    assert float(clip_balanced_mean(values, ["a", "a", "a", "b"])) == pytest.approx(2.5)  # plain mean: 1.75
    with pytest.raises(ValueError):
        clip_balanced_mean(values, ["a"])


def _batch(clips: list[str], seed: int = 0) -> dict:
    return {"frames": torch.rand(len(clips), 3, 3, 64, 96, generator=torch.Generator().manual_seed(seed)),
            "clip": clips, "crop_scale": torch.ones(len(clips), 2)}


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")  # steps called without a Trainer
def test_training_steps_update_the_estimates_validation_only_scores_them(tiny_config):
    torch.manual_seed(0)
    module = SS3DLightningModule(net=tiny_config, clip_focal_consistency_weight=2.0)
    first = _batch(["a", "b"])
    terms, _ = module._step(first, augment=False)
    assert "clip_focal_consistency" not in terms  # a clip's first sample only seeds its estimate
    module.training_step(first, 0)
    assert len(module.clip_focals) == 2
    seeded = module.clip_focals.state_dict()
    module.validation_step(_batch(["a", "c"], seed=1), 0)
    assert module.clip_focals.state_dict() == seeded  # validation never updates
    terms, intrinsics = module._step(_batch(["a", "c"], seed=1), augment=False)
    log_focal = torch.log(intrinsics[:, :2])
    expected = (log_focal[0].detach() - module.clip_focals.estimate("a").float()).abs().mean()  # "c" has no estimate
    assert float(terms["clip_focal_consistency"].detach()) == pytest.approx(float(expected), rel=1e-5)
    module.zero_grad()
    terms["clip_focal_consistency"].backward()
    assert module.net.motion_head.intrinsics.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in module.net.depth_decoder.parameters())
    with pytest.raises(ValueError, match="crop_scale"):
        module._step({k: v for k, v in first.items() if k != "crop_scale"}, augment=False)
    off = SS3DLightningModule(net=tiny_config)
    off.training_step(first, 0)
    assert len(off.clip_focals) == 0  # weight 0: nothing kept


def test_the_estimates_survive_a_checkpoint_round_trip(tmp_path, tiny_config):
    module = SS3DLightningModule(net=tiny_config, clip_focal_consistency_weight=1.0)
    module.clip_focals.update(["a", "b"], torch.tensor([[-0.2, 0.3], [0.5, 0.25]]))
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, tmp_path / "last.ckpt")
    resumed = SS3DLightningModule(net=tiny_config, clip_focal_consistency_weight=1.0)
    resumed.on_load_checkpoint(torch.load(tmp_path / "last.ckpt", weights_only=True))
    assert resumed.clip_focals.state_dict() == module.clip_focals.state_dict()
    older = SS3DLightningModule(net=tiny_config, clip_focal_consistency_weight=1.0)
    older.on_load_checkpoint({})  # a checkpoint written before the estimates existed
    assert len(older.clip_focals) == 0
    with pytest.raises(ValueError, match="two finite"):
        older.on_load_checkpoint({CLIP_FOCAL_CHECKPOINT_KEY: {"a": [0.1]}})
