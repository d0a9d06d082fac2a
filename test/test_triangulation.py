"""Dense two-view triangulation, the scale-invariant depth term and the TrianFlow-style labels of a training batch."""

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import transforms3d
from kornia.geometry.conversions import axis_angle_to_rotation_matrix
from kornia.geometry.epipolar import essential_from_Rt, motion_from_essential_choose_solution

from ss3d_core.camera import scale_K
from ss3d_core.geometry.triangulation import choose_essential_motion, triangulate_flow
from ss3d_core.io.tum_sequence import TumSequence
from ss3d_core.losses.flow_consistency import rigid_flow
from ss3d_core.losses.triangulated_depth import MIN_LABELLED_PIXELS, triangulated_depth_loss
from ss3d_eval.pose_metrics import relative_motion
from training.labels.optical_flow import dis_flow, forward_backward_mask
from training.labels.triangulated_labels import triangulated_labels

TUM_PAIR = Path(__file__).resolve().parent / "fixtures" / "tum_fr1_xyz_pair1"
H, W = 64, 96
K_SYNTH = torch.tensor([[[80.0, 0.0, 47.5], [0.0, 80.0, 31.5], [0.0, 0.0, 1.0]]])


def _pose(axis_angle, t) -> torch.Tensor:
    T = torch.eye(4, dtype=torch.float64)
    angle = float(np.linalg.norm(axis_angle))
    if angle > 0:
        T[:3, :3] = torch.from_numpy(transforms3d.axangles.axangle2mat(axis_angle, angle))
    T[:3, 3] = torch.tensor(t, dtype=torch.float64)
    return T[None]


def _scene(seed: int = 0) -> torch.Tensor:
    """``1×1×H×W`` float64 depth: a slanted plane 2–6 m with random bumps (a rigid scene with real structure)."""
    generator = torch.Generator().manual_seed(seed)
    v = torch.linspace(0.0, 1.0, H, dtype=torch.float64)[:, None].expand(H, W)
    bumps = torch.nn.functional.interpolate(torch.rand(1, 1, 8, 12, generator=generator, dtype=torch.float64),
                                            size=(H, W), mode="bilinear", align_corners=False)
    return 6.0 - 4.0 * v[None, None] + bumps


def test_exact_flow_triangulates_to_the_true_depth_in_the_unit_of_the_translation():
    depth = _scene()
    T = _pose([0.01, -0.02, 0.005], [0.3, 0.05, 0.2])
    K = K_SYNTH.double()
    result = triangulate_flow(rigid_flow(depth, T, K), T, K, min_parallax_rad=math.radians(0.5))
    assert result.valid.float().mean() > 0.95
    assert torch.allclose(result.depth[result.valid], depth[result.valid], rtol=1e-6)
    # A translation twice as long (same flow) doubles every depth: one unknown scale per image.
    T_long = T.clone()
    T_long[0, :3, 3] *= 2.0
    doubled = triangulate_flow(rigid_flow(depth, T, K), T_long, K, min_parallax_rad=math.radians(0.5))
    assert torch.allclose(doubled.depth[doubled.valid], 2.0 * depth[doubled.valid], rtol=1e-6)
    assert (result.depth[~result.valid] == 0).all()


def test_parallax_threshold_and_motion_without_translation_label_nothing():
    depth = _scene()
    K = K_SYNTH.double()
    rotation_only = _pose([0.0, 0.03, 0.0], [0.0, 0.0, 0.0])
    assert not triangulate_flow(rigid_flow(depth, rotation_only, K), rotation_only, K, 0.0).valid.any()
    # 1 cm sideways at 2–7 m: rays meet at under 0.3°, so a 1° threshold keeps nothing and 0.05° keeps them all.
    small = _pose([0.0, 0.0, 0.0], [0.01, 0.0, 0.0])
    flow = rigid_flow(depth, small, K)
    assert not triangulate_flow(flow, small, K, math.radians(1.0)).valid.any()
    low = triangulate_flow(flow, small, K, math.radians(0.05))
    assert low.valid.all() and (low.parallax_rad < math.radians(0.3)).all()


def test_triangulation_rejects_bad_shapes():
    T = _pose([0, 0, 0], [1, 0, 0])
    with pytest.raises(ValueError, match="B×2×H×W"):
        triangulate_flow(torch.zeros(1, 3, H, W, dtype=torch.float64), T, K_SYNTH.double(), 0.0)
    with pytest.raises(ValueError, match="4×4"):
        triangulate_flow(torch.zeros(2, 2, H, W, dtype=torch.float64), T, K_SYNTH.double(), 0.0)


def test_real_tum_pair_triangulates_to_the_kinect_structure_under_the_ground_truth_motion():
    """TUM fr1/xyz (2 cm, 1.4°): DIS flow at 320×240 under the motion-capture pose against the Kinect depth.

    At 2 cm the rays meet at under 1°, so a 0.1° error of the motion-capture rotation (or its time offset to the
    image) moves the metric scale by tens of percent; the structure (depth up to one scale) is what labels use.
    """
    sequence = TumSequence.load(TUM_PAIR)
    frames = [cv2.resize(sequence.read_rgb(i), (320, 240), interpolation=cv2.INTER_AREA) for i in range(2)]
    # Target = first frame (it has the depth image), source = second.
    target_to_source, source_to_target = dis_flow(frames[0], frames[1]), dis_flow(frames[1], frames[0])
    trusted = torch.from_numpy(forward_backward_mask(target_to_source, source_to_target))[None, None]
    flow = torch.from_numpy(target_to_source).permute(2, 0, 1)[None].double()
    T_source_target = torch.from_numpy(relative_motion(sequence.gt_pose_for_frame(1), sequence.gt_pose_for_frame(0)))
    calibration = sequence.calibration
    K = torch.from_numpy(scale_K(calibration.K, (calibration.width, calibration.height), (320, 240)))[None]
    truth = cv2.resize(sequence.read_depth_m(sequence.depth_index_for_frame(0)), (320, 240),
                       interpolation=cv2.INTER_NEAREST)
    truth = torch.from_numpy(truth).double()[None, None]

    def log_ratio(min_parallax_deg: float, max_parallax_deg: float = 180.0) -> torch.Tensor:
        result = triangulate_flow(flow, T_source_target[None], K, min_parallax_rad=math.radians(min_parallax_deg))
        scored = result.valid & trusted & (truth > 0) & (result.parallax_rad < math.radians(max_parallax_deg))
        return torch.log(result.depth[scored] / truth[scored])

    labelled = log_ratio(0.5)
    assert labelled.numel() > 5000
    assert 0.5 < labelled.median().exp() < 2.0  # metric, up to the motion-capture error
    spread = (labelled - labelled.median()).abs().median()
    assert spread < 0.2
    # The rays below the threshold carry little depth: their structure is clearly worse.
    low = log_ratio(0.0, max_parallax_deg=0.5)
    assert (low - low.median()).abs().median() > 1.5 * spread


def test_depth_term_is_scale_invariant_and_sees_structure():
    label = _scene().float()
    valid = torch.ones_like(label, dtype=torch.bool)
    assert triangulated_depth_loss(3.7 * label, label, valid).item() == pytest.approx(0.0, abs=1e-6)
    flat = torch.full_like(label, 4.0)
    inverted = 8.0 - label
    assert triangulated_depth_loss(inverted, label, valid) > triangulated_depth_loss(flat, label, valid) > 0.1


def test_depth_term_skips_images_without_enough_labels_and_only_trains_the_prediction():
    label = _scene().float().repeat(2, 1, 1, 1)
    valid = torch.zeros_like(label, dtype=torch.bool)
    valid[0].view(-1)[: MIN_LABELLED_PIXELS - 1] = True
    prediction = torch.full_like(label, 4.0, requires_grad=True)
    loss = triangulated_depth_loss(prediction, label, valid)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(prediction.grad).all()
    valid[1] = True
    prediction.grad = None
    loss = triangulated_depth_loss(prediction, label, valid)
    loss.backward()
    assert loss.item() > 0 and (prediction.grad[0] == 0).all() and prediction.grad[1].abs().sum() > 0
    with pytest.raises(ValueError, match="do not match"):
        triangulated_depth_loss(prediction, label[:, :, :-1], valid)


def test_batch_labels_recover_structure_drop_a_moving_object_and_skip_a_rotation():
    """Sample 0: rigid scene with a patch that moves on its own; sample 1: rotation only (no labels)."""
    depth = _scene().float()
    K = K_SYNTH.repeat(2, 1, 1)
    T_rigid = _pose([0.01, -0.02, 0.005], [0.3, 0.05, 0.2]).float()
    T_rotation = _pose([0.0, 0.04, 0.01], [0.0, 0.0, 0.0]).float()
    flow = rigid_flow(depth.repeat(2, 1, 1, 1), torch.cat([T_rigid, T_rotation]), K)
    noise = torch.randn(flow.shape, generator=torch.Generator().manual_seed(1)) * 0.1
    flow = flow + noise
    flow[0, :, 40:56, 10:30] += torch.tensor([6.0, -4.0])[:, None, None]  # independently moving object
    labels = triangulated_labels(flow, torch.ones(2, 1, H, W), K)
    assert labels.n_posed >= 1
    assert not labels.valid[1].any()
    assert not labels.valid[0, 0, 40:56, 10:30].any()
    assert labels.valid[0].float().mean() > 0.5
    labelled = labels.valid[0]
    log_ratio = torch.log(labels.depth[0][labelled]) - torch.log(depth[0][labelled])
    assert (log_ratio - log_ratio.median()).abs().median() < 0.05


def test_a_forward_moving_camera_over_mostly_distant_points_gets_labels_on_the_near_ground():
    """A dashcam: the upper 60 % of the image at 300 m (300 baselines: beyond cv2.recoverPose's default 50-baseline
    cheirality cut, which made such pairs fail the inlier gate), the lower 40 % a road from 12 m down to 3 m."""
    v = torch.linspace(0.0, 1.0, H, dtype=torch.float64)[:, None].expand(H, W)
    road = 1.0 / (1.0 / 12.0 + (1.0 / 3.0 - 1.0 / 12.0) * ((v - 0.6) / 0.4).clamp(min=0.0))
    depth = torch.where(v < 0.6, torch.full_like(v, 300.0), road)[None, None].float()
    T_forward = _pose([0.0, 0.0, 0.0], [0.0, 0.0, -1.0]).float()  # source = the next frame, 1 m further ahead
    flow = rigid_flow(depth, T_forward, K_SYNTH)
    flow = flow + torch.randn(flow.shape, generator=torch.Generator().manual_seed(2)) * 0.1
    labels = triangulated_labels(flow, torch.ones(1, 1, H, W), K_SYNTH)
    assert labels.n_posed == 1
    near = v[None, None] > 0.75
    assert labels.valid[near].float().mean() > 0.5 and not labels.valid[v[None, None] < 0.6].any()
    labelled = labels.valid[0]
    log_ratio = torch.log(labels.depth[0][labelled]) - torch.log(depth[0][labelled])
    assert (log_ratio - log_ratio.median()).abs().median() < 0.05


def test_closed_form_cheirality_picks_kornias_motion_of_the_essential_matrix():
    """choose_essential_motion replaces kornia's motion_from_essential_choose_solution (DLT triangulation per
    point) with the closed form: the same candidate, points on the same side of the camera, noisy matches."""
    generator = torch.Generator().manual_seed(0)
    b, n = 6, 300
    K = torch.tensor([[200.0, 0, 112], [0, 200, 64], [0, 0, 1]], dtype=torch.float64).repeat(b, 1, 1)
    R = axis_angle_to_rotation_matrix(0.05 * torch.randn(b, 3, generator=generator, dtype=torch.float64))
    t = torch.nn.functional.normalize(torch.randn(b, 3, 1, generator=generator, dtype=torch.float64), dim=1)
    X = torch.cat([4 * torch.rand(b, n, 2, generator=generator, dtype=torch.float64) - 2,
                   2 + 20 * torch.rand(b, n, 1, generator=generator, dtype=torch.float64)], dim=-1)

    def pixels(points):
        uvw = points @ K.transpose(1, 2)
        return uvw[..., :2] / uvw[..., 2:]

    target = pixels(X)
    source = pixels(X @ R.transpose(1, 2) + t.transpose(1, 2))
    source = source + 0.5 * torch.randn(source.shape, generator=generator, dtype=torch.float64)
    E = essential_from_Rt(torch.eye(3, dtype=torch.float64).repeat(b, 1, 1), torch.zeros(b, 3, 1, dtype=torch.float64),
                          R, t)
    mask = torch.rand(b, n, generator=generator) > 0.2
    R_k, t_k, points_k, _ = motion_from_essential_choose_solution(E, K, K, target, source, mask)
    R_c, t_c, points_c = choose_essential_motion(E, K, target, source, mask)
    assert torch.allclose(R_c, R_k) and torch.allclose(t_c, t_k)
    assert torch.allclose(R_c, R, atol=1e-9)
    assert torch.equal(points_c[..., 2] > 0, points_k[..., 2] > 0)
    # Under 0.5 px noise the two triangulations (one fixed target ray against DLT) differ by a fraction of a percent.
    assert ((points_c[..., 2] - points_k[..., 2]).abs() / points_k[..., 2].abs()).median() < 0.01
