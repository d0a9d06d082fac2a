"""Camera, pose and warping geometry."""

import numpy as np
import pytest
import torch

from ss3d_core.camera import K_from_normalised, K_to_normalised, backproject, project, scale_K
from ss3d_core.pose import (
    invert_pose,
    invert_pose_batch,
    pose_from_axis_angle_translation,
    rotation_angle_deg,
    translation_direction_error_deg,
    twist_from_relative_pose,
)
from ss3d_core.warp import inverse_warp

TUM_K = np.array([[517.3, 0.0, 318.6], [0.0, 516.5, 255.3], [0.0, 0.0, 1.0]])  # TUM fr1 calibration


def _real_image(sample_frames, h=96, w=160):
    import cv2

    rgb = cv2.resize(sample_frames[0], (w, h), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0


def test_identity_pose_warps_image_onto_itself(sample_frames):
    image = _real_image(sample_frames)
    depth = torch.full((1, 1, 96, 160), 4.0)
    K = K_from_normalised(torch.tensor([[0.8, 1.4, 0.5, 0.5]]), 160, 96)
    warped, valid = inverse_warp(image, depth, torch.eye(4)[None], K)
    assert torch.allclose(warped, image, atol=1e-4)
    assert valid[:, :, 1:-1, 1:-1].min() == 1.0


def test_pure_translation_shifts_by_disparity(sample_frames):
    """A sideways camera move of b at depth d shifts pixels by fx·b/d (stereo disparity)."""
    image = _real_image(sample_frames)
    fx, depth_m, baseline = 100.0, 5.0, 0.2
    K = torch.tensor([[[fx, 0.0, 79.5], [0.0, fx, 47.5], [0.0, 0.0, 1.0]]])
    T_source_target = torch.eye(4)[None].clone()
    T_source_target[0, 0, 3] = -baseline  # source camera is `baseline` to the right of the target camera
    warped, valid = inverse_warp(image, torch.full((1, 1, 96, 160), depth_m), T_source_target, K)
    shift = int(fx * baseline / depth_m)  # 4 pixels
    assert torch.allclose(warped[..., shift:-shift], image[..., : -2 * shift], atol=1e-4)
    assert valid[..., :shift].sum() == 0 or valid[..., -shift:].sum() == 0


def test_project_backproject_round_trip():
    torch.manual_seed(0)
    depth = torch.rand(2, 1, 12, 16) * 10 + 0.5
    K = K_from_normalised(torch.tensor([[0.9, 1.1, 0.48, 0.52], [0.6, 0.8, 0.5, 0.5]]), 16, 12)
    uv, z = project(backproject(depth, K), K)
    v, u = torch.meshgrid(torch.arange(12.0), torch.arange(16.0), indexing="ij")
    assert torch.allclose(uv[:, 0], u.expand(2, -1, -1), atol=1e-4)
    assert torch.allclose(uv[:, 1], v.expand(2, -1, -1), atol=1e-4)
    assert torch.allclose(z, depth, atol=1e-5)


def test_K_follows_resizes():
    """A point projected at full size lands at the rescaled position at the new size (pixel-centre convention)."""
    K_small = scale_K(TUM_K, (640, 480), (160, 120))
    point = np.array([0.3, -0.2, 2.0])
    uv_full = (TUM_K @ point)[:2] / point[2]
    uv_small = (K_small @ point)[:2] / point[2]
    np.testing.assert_allclose(uv_small, (uv_full + 0.5) / 4.0 - 0.5, atol=1e-9)
    # Normalised intrinsics are resolution independent, and the torch assembly inverts the normalisation.
    np.testing.assert_allclose(K_to_normalised(K_small, 160, 120), K_to_normalised(TUM_K, 640, 480))
    K_back = K_from_normalised(torch.tensor(K_to_normalised(TUM_K, 640, 480))[None], 640, 480)[0].numpy()
    np.testing.assert_allclose(K_back, TUM_K, atol=1e-9)


def test_K_from_normalised_rejects_bad_shapes():
    with pytest.raises(ValueError):
        K_from_normalised(torch.ones(1, 3), 10, 10)
    with pytest.raises(ValueError):
        K_from_normalised(torch.ones(1, 4), 0, 10)


def test_pose_helpers():
    axis_angle = torch.tensor([[0.0, 0.0, np.pi / 2]])
    T = pose_from_axis_angle_translation(axis_angle, torch.tensor([[1.0, 2.0, 3.0]]))[0].double().numpy()
    np.testing.assert_allclose(T[:3, :3] @ [1, 0, 0], [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(invert_pose(T) @ T, np.eye(4), atol=1e-6)
    assert rotation_angle_deg(T[:3, :3]) == pytest.approx(90.0, abs=1e-4)
    assert rotation_angle_deg(np.eye(3)) == pytest.approx(0.0, abs=1e-6)
    assert translation_direction_error_deg([1, 0, 0], [0, 2, 0]) == pytest.approx(90.0)
    assert translation_direction_error_deg([0, 0, 0], [0, 2, 0]) is None


def test_twist_from_relative_pose():
    T = np.eye(4)
    T[:3, :3] = pose_from_axis_angle_translation(torch.tensor([[0.0, 0.1, 0.0]]), torch.zeros(1, 3))[0, :3, :3].numpy()
    T[:3, 3] = [0.0, 0.0, 0.5]
    linear, angular = twist_from_relative_pose(T, 0.5)
    np.testing.assert_allclose(angular, [0.0, 0.2, 0.0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(linear), 1.0, atol=1e-9)
    with pytest.raises(ValueError):
        twist_from_relative_pose(T, 0.0)


def test_invert_pose_batch_matches_numpy():
    T = pose_from_axis_angle_translation(torch.tensor([[0.1, -0.2, 0.3]]), torch.tensor([[1.0, -2.0, 0.5]]))
    np.testing.assert_allclose(invert_pose_batch(T)[0].numpy(), invert_pose(T[0].double().numpy()), atol=1e-6)


def test_square_pixel_intrinsics_keep_the_geometric_mean_focal_and_set_the_ratio():
    from ss3d_core.camera import square_pixel_intrinsics

    # A 640×480 square-pixel camera (f = 500 px) resized to 224×128: fy/fx = (128/480) / (224/640) = 0.762.
    w, h = 224, 128
    true = torch.tensor([[500 / 640, 500 / 480, 0.5, 0.5]], dtype=torch.float64)
    aspect = torch.tensor([(h / 480) / (w / 640)], dtype=torch.float64)
    # A prediction with the right geometric mean but the focal lengths traded against each other.
    fx, fy = true[0, 0] * w * 3.0, true[0, 1] * h / 3.0
    predicted = torch.tensor([[fx / w, fy / h, 0.45, 0.55]], dtype=torch.float64, requires_grad=True)
    fixed = square_pixel_intrinsics(predicted, aspect, w, h)
    assert torch.allclose(fixed[:, :2], true[:, :2]) and torch.allclose(fixed[:, 2:], predicted[:, 2:])
    fixed.sum().backward()
    assert torch.isfinite(predicted.grad).all()
    with pytest.raises(ValueError, match="B×4"):
        square_pixel_intrinsics(predicted, aspect.repeat(2), w, h)
