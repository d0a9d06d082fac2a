"""SS3DNet output contract: shapes, ranges, valid-by-construction intrinsics, encoder reuse."""

import math

import pytest
import torch

from ss3d_core.network import SS3DNet, SS3DNetConfig
from ss3d_core.network.motion_head import MIN_FOCAL_NORM, PRINCIPAL_POINT_RANGE


def test_forward_shapes_and_ranges(tiny_config):
    torch.manual_seed(0)
    net = SS3DNet(tiny_config).eval()
    prev, cur = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        out = net(prev, cur)
    assert out.depth.shape == (2, 1, 64, 96)
    assert [d.shape[-2:] for d in out.disparities] == [(64, 96), (32, 48), (16, 24), (8, 12)]
    assert out.depth.min() >= tiny_config.min_depth - 1e-5 and out.depth.max() <= tiny_config.max_depth + 1e-3
    assert out.T_prev_cur.shape == (2, 4, 4)
    R = out.T_prev_cur[:, :3, :3]
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-5)
    assert torch.allclose(out.T_prev_cur[:, 3], torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(2, 4))
    assert out.K.shape == (2, 3, 3) and out.intrinsics_norm.shape == (2, 4)


def test_untrained_head_predicts_identity_motion_and_prior_K(tiny_config):
    net = SS3DNet(tiny_config).eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        out = net(x, x)
    assert torch.allclose(out.T_prev_cur[0], torch.eye(4), atol=1e-6)
    assert out.intrinsics_norm[0, 0].item() == pytest.approx(0.8, abs=0.01)
    assert out.intrinsics_norm[0, 2:].tolist() == pytest.approx([0.5, 0.5], abs=0.01)


def test_motion_head_is_antisymmetric(tiny_config):
    """A head with arbitrary weights: identical frames give the identity pose exactly, and
    swapping the frames inverts the rotation and negates the translation; K does not depend on the order."""
    torch.manual_seed(2)
    net = SS3DNet(tiny_config).eval()
    with torch.no_grad():
        for parameter in net.motion_head.parameters():
            torch.nn.init.normal_(parameter, std=1.0)
        a = torch.rand(1, 3, 64, 96)
        b = torch.zeros_like(a)
        b[..., 16:48, 24:72] = 1.0
        forward, backward, still = net(a, b), net(b, a), net(a, a)
    assert torch.equal(still.T_prev_cur[0], torch.eye(4))
    T_ab, T_ba = forward.T_prev_cur[0], backward.T_prev_cur[0]
    assert (T_ab - torch.eye(4)).abs().max() > 1e-3
    assert torch.allclose(T_ab[:3, :3] @ T_ba[:3, :3], torch.eye(3), atol=1e-6)
    assert torch.allclose(T_ab[:3, 3], -T_ba[:3, 3], atol=1e-7)
    assert torch.allclose(forward.intrinsics_norm, backward.intrinsics_norm, atol=1e-7)


def test_intrinsics_valid_for_extreme_head_outputs(tiny_config):
    """Whatever the regressor outputs, focal lengths stay positive and the principal point stays bounded."""
    net = SS3DNet(tiny_config).eval()
    with torch.no_grad():
        for bias in (-1e4, 1e4):
            net.motion_head.intrinsics.bias.fill_(bias)
            k = net(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)).intrinsics_norm[0]
            assert (k[:2] >= MIN_FOCAL_NORM).all() and torch.isfinite(k).all()
            assert ((k[2:] - 0.5).abs() <= PRINCIPAL_POINT_RANGE + 1e-6).all()


def test_decode_from_cached_features_equals_pair_forward(tiny_config):
    torch.manual_seed(1)
    net = SS3DNet(tiny_config).eval()
    prev, cur = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        joint = net(prev, cur)
        streamed = net.decode(net.encode(prev), net.encode(cur))
    assert torch.allclose(joint.depth, streamed.depth, atol=1e-5)
    assert torch.allclose(joint.T_prev_cur, streamed.T_prev_cur, atol=1e-6)


def test_bad_inputs_raise(tiny_config):
    net = SS3DNet(tiny_config)
    with pytest.raises(ValueError):
        net.encode(torch.rand(1, 3, 60, 96))
    with pytest.raises(ValueError):
        net(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 32, 96))
    with pytest.raises(ValueError):
        SS3DNetConfig(input_height=100)


def test_config_round_trip():
    config = SS3DNetConfig(input_height=128, input_width=224)
    assert SS3DNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError):
        SS3DNetConfig.from_dict({**config.to_dict(), "attention_heads": 8})
    assert math.isclose(config.max_depth, 100.0)
