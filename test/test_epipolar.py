"""Epipolar (Sampson) supervision of pose and intrinsics from optical flow: exact geometry and a real TUM pair."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import transforms3d

from ss3d_core.camera import scale_K
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_core.losses.epipolar import epipolar_flow_loss
from ss3d_core.losses.flow_consistency import CHARBONNIER_EPS_PX, rigid_flow
from ss3d_eval.pose_metrics import relative_motion
from training.labels.optical_flow import dis_flow, forward_backward_mask

TUM_PAIR = Path(__file__).resolve().parent / "fixtures" / "tum_fr1_xyz_pair1"
H, W = 64, 96
K_SYNTH = torch.tensor([[[80.0, 0.0, 47.5], [0.0, 80.0, 31.5], [0.0, 0.0, 1.0]]])


def _pose(axis_angle, t) -> torch.Tensor:
    T = torch.eye(4)
    angle = float(np.linalg.norm(axis_angle))
    if angle > 0:
        T[:3, :3] = torch.from_numpy(transforms3d.axangles.axangle2mat(axis_angle, angle)).float()
    T[:3, 3] = torch.tensor(t, dtype=torch.float32)
    return T[None]


def _rotated(T: torch.Tensor, axis, degrees: float) -> torch.Tensor:
    out = T.clone()
    R = torch.from_numpy(transforms3d.axangles.axangle2mat(axis, np.radians(degrees))).float()
    out[0, :3, :3] = R @ T[0, :3, :3]
    return out


@pytest.fixture(scope="module")
def synthetic():
    """Flow of a random-depth scene under a known pose: every correspondence is exactly epipolar."""
    depth = 1.0 + 3.0 * torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(0))
    T = _pose([0.02, -0.03, 0.01], [0.1, 0.02, 0.3])
    return rigid_flow(depth, T, K_SYNTH), torch.ones(1, 1, H, W), T


def test_exact_correspondences_score_the_charbonnier_floor_for_any_translation_length(synthetic):
    flow, valid, T = synthetic
    floor = CHARBONNIER_EPS_PX / W
    assert epipolar_flow_loss(flow, valid, T, K_SYNTH).item() == pytest.approx(floor, rel=1e-3)
    longer = T.clone()
    longer[0, :3, 3] *= 7.0
    assert epipolar_flow_loss(flow, valid, longer, K_SYNTH).item() == pytest.approx(floor, rel=1e-3)


def test_wrong_rotation_direction_or_focal_length_costs_more(synthetic):
    flow, valid, T = synthetic
    right = epipolar_flow_loss(flow, valid, T, K_SYNTH).item()
    wrong_direction = T.clone()
    wrong_direction[0, :3, 3] = torch.tensor([0.3, 0.02, 0.1])
    wrong_focal = K_SYNTH.clone()
    wrong_focal[0, :2, :2] *= 1.5
    assert epipolar_flow_loss(flow, valid, wrong_direction, K_SYNTH).item() > 2 * right
    assert epipolar_flow_loss(flow, valid, _rotated(T, [0, 1, 0], 2.0), K_SYNTH).item() > 2 * right
    # Focal length is the weakest of the three (it only shows through the small rotation and the epipole's offset).
    assert epipolar_flow_loss(flow, valid, T, wrong_focal).item() > 1.2 * right


def test_pure_rotation_fits_any_translation_direction():
    depth = torch.full((1, 1, H, W), 3.0)
    flow = rigid_flow(depth, _pose([0.0, 0.03, 0.0], [0.0, 0.0, 0.0]), K_SYNTH)
    floor = CHARBONNIER_EPS_PX / W
    for t in ([1.0, 0.0, 0.0], [0.0, 0.3, 0.2]):
        assert epipolar_flow_loss(flow, torch.ones(1, 1, H, W), _pose([0.0, 0.03, 0.0], t), K_SYNTH).item() == (
            pytest.approx(floor, rel=1e-3))


def test_no_translation_contributes_nothing_and_keeps_gradients_finite(synthetic):
    flow, valid, _ = synthetic
    T = torch.eye(4)[None].requires_grad_(True)
    loss = epipolar_flow_loss(flow, valid, T, K_SYNTH)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(T.grad).all()
    assert epipolar_flow_loss(flow, torch.zeros_like(valid), synthetic[2], K_SYNTH).item() == 0.0


def test_bad_shapes_raise(synthetic):
    flow, valid, T = synthetic
    with pytest.raises(ValueError, match="B×2×H×W"):
        epipolar_flow_loss(flow[:, :1], valid, T, K_SYNTH)
    with pytest.raises(ValueError, match="does not match"):
        epipolar_flow_loss(flow, valid[..., :-1], T, K_SYNTH)


def test_ground_truth_pose_and_calibration_explain_real_flow_best():
    """TUM fr1/xyz pair (2 cm, 1.4°): DIS flow at 320×240 is scored lowest under the motion-capture pose."""
    sequence = TumSequence.load(TUM_PAIR)
    frames = [cv2.resize(sequence.read_rgb(i), (320, 240), interpolation=cv2.INTER_AREA) for i in range(2)]
    target_to_source, source_to_target = dis_flow(frames[1], frames[0]), dis_flow(frames[0], frames[1])
    valid = forward_backward_mask(target_to_source, source_to_target)
    flow = torch.from_numpy(target_to_source).permute(2, 0, 1)[None]
    mask = torch.from_numpy(valid)[None, None].float()
    # Target = second frame, source = first: T_source_target = T_prev_cur.
    T_prev_cur = relative_motion(sequence.gt_pose_for_frame(0), sequence.gt_pose_for_frame(1))
    T = torch.from_numpy(T_prev_cur).float()[None]
    calibration = sequence.calibration
    K = torch.from_numpy(scale_K(calibration.K, (calibration.width, calibration.height), (320, 240))).float()[None]
    best = epipolar_flow_loss(flow, mask, T, K).item()
    assert best * 320 < 1.0  # mean residual under a pixel (the images are not undistorted)
    worse = [_rotated(T, axis, 1.0) for axis in ([1, 0, 0], [0, 1, 0], [0, 0, 1])]
    turned = T.clone()
    R_30 = torch.from_numpy(transforms3d.axangles.axangle2mat([0, 1, 0], np.radians(30.0))).float()
    turned[0, :3, 3] = R_30 @ T[0, :3, 3]
    worse.append(turned)
    for pose in worse:
        assert epipolar_flow_loss(flow, mask, pose, K).item() > 1.2 * best
    for scale in (0.7, 1.4):
        scaled = K.clone()
        scaled[0, :2, :2] *= scale
        assert epipolar_flow_loss(flow, mask, T, scaled).item() > 1.2 * best
