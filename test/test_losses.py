"""Self-supervised losses on real frames."""

import cv2
import numpy as np
import pytest
import torch

from ss3d_core.camera import K_from_normalised
from ss3d_core.losses import (
    edge_aware_smoothness,
    min_reprojection_with_automask,
    photometric_error,
    view_synthesis_loss,
)
from ss3d_core.losses.ssim import SSIM_C1, SSIM_C2, SSIMTarget, box_mean_3x3, ssim
from ss3d_core.network import SS3DNet


def _tensor(rgb, w=96, h=64):
    return torch.from_numpy(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)).permute(2, 0, 1)[None].float() / 255


def test_photometric_error_zero_on_identical_and_positive_otherwise(sample_frames):
    a, b = _tensor(sample_frames[0]), _tensor(sample_frames[2])
    assert photometric_error(a, a).abs().max() < 1e-6
    err = photometric_error(a, b)
    assert err.shape == (1, 1, 64, 96) and err.mean() > 0.01


def test_automask_masks_pixels_explained_by_no_motion():
    target = torch.rand(1, 3, 8, 8)
    warped_good = [torch.zeros(1, 1, 8, 8)]
    identity_better = [torch.full((1, 1, 8, 8), -1.0)]
    g = torch.Generator().manual_seed(0)
    loss, mask = min_reprojection_with_automask(warped_good, identity_better, g)
    assert mask.sum() == 0 and loss.abs().sum() == 0
    loss, mask = min_reprojection_with_automask([torch.full((1, 1, 8, 8), 0.2), torch.full((1, 1, 8, 8), 0.1)],
                                                [torch.full((1, 1, 8, 8), 0.5)], g)
    assert mask.min() == 1 and torch.allclose(loss, torch.full_like(loss, 0.1))
    del target


def test_smoothness_prefers_smooth_disparity(sample_frames):
    image = _tensor(sample_frames[0])
    flat = torch.ones(1, 1, 64, 96)
    noisy = flat + 0.5 * torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(0))
    assert edge_aware_smoothness(flat, image) == pytest.approx(0.0, abs=1e-7)
    assert edge_aware_smoothness(noisy, image) > 0.05


def test_loss_decreases_when_overfitting_a_real_triplet(sample_frames, tiny_config):
    torch.manual_seed(0)
    frames = torch.cat([_tensor(f) for f in sample_frames])  # previous, target, next (real dashcam frames)
    net = SS3DNet(tiny_config)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(25):
        feats = net.encode(frames)
        f = [[x[i : i + 1] for x in feats] for i in range(3)]
        disparities = net.predict_depth(f[1])
        T_prev, k_prev = net.predict_motion(f[0], f[1])
        T_next, k_next = net.predict_motion(f[2], f[1])
        terms = view_synthesis_loss(frames[1:2], [frames[0:1], frames[2:3]], disparities, [T_prev, T_next],
                                    K_from_normalised(0.5 * (k_prev + k_next), 96, 64), generator=generator)
        optimiser.zero_grad()
        terms.total.backward()
        optimiser.step()
        losses.append(terms.total.item())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:3])


def test_view_synthesis_loss_validates_inputs():
    with pytest.raises(ValueError):
        view_synthesis_loss(torch.rand(1, 3, 8, 8), [], [torch.ones(1, 1, 8, 8)], [], torch.eye(3)[None])



def test_ssim_is_monodepth2s_average_pooled_ssim(sample_frames):
    """The separable 3×3 mean equals ReflectionPad2d(1) + AvgPool2d(3, 1), and SSIM follows Wang et al.'s formula
    with those statistics (Monodepth2's ``SSIM`` layer); the target's precomputed statistics change nothing."""
    a, b = _tensor(sample_frames[0]), _tensor(sample_frames[2])
    pool = torch.nn.Sequential(torch.nn.ReflectionPad2d(1), torch.nn.AvgPool2d(3, 1))
    assert torch.allclose(box_mean_3x3(a), pool(a), atol=1e-6)
    mu_a, mu_b = pool(a), pool(b)
    var_a, var_b, cov = pool(a * a) - mu_a**2, pool(b * b) - mu_b**2, pool(a * b) - mu_a * mu_b
    expected = ((2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
                / ((mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)))
    assert torch.allclose(ssim(a, b), expected, atol=1e-3)  # float32 cancellation in the local variances
    assert torch.allclose(ssim(a, SSIMTarget.of(b)), ssim(a, b))
    assert torch.allclose(ssim(a, a), torch.ones_like(a), atol=1e-4)
    assert torch.equal(photometric_error(a, SSIMTarget.of(b)), photometric_error(a, b))
    with pytest.raises(ValueError):
        ssim(a, b[..., :32])


def test_ssim_gradient_flows_into_the_prediction_only(sample_frames):
    a = _tensor(sample_frames[0]).requires_grad_()
    b = _tensor(sample_frames[2]).requires_grad_()
    (1 - ssim(a, b)).mean().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert b.grad is None  # the target is data: its statistics carry no gradient


def test_view_synthesis_scores_only_the_requested_scales(sample_frames):
    frames = torch.cat([_tensor(f) for f in sample_frames])
    K = K_from_normalised(torch.tensor([[0.8, 1.2, 0.5, 0.5]]), 96, 64)
    T = torch.eye(4)[None].clone()
    T[0, 0, 3] = 0.05
    disparities = [torch.full((1, 1, 64 // 2**s, 96 // 2**s), 0.2 + 0.1 * s) for s in range(4)]

    def loss(scales, disps):
        return view_synthesis_loss(frames[1:2], [frames[0:1], frames[2:3]], disps, [T, T], K,
                                   generator=torch.Generator().manual_seed(0), scales=scales)

    finest = loss(1, disparities)
    assert torch.equal(finest.total, loss(None, disparities[:1]).total)
    assert not torch.equal(loss(4, disparities).total, finest.total)
    for bad in (0, 5):
        with pytest.raises(ValueError):
            loss(bad, disparities)
