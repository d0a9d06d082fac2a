"""The distillation loss (training/fit/distillation.py) and the online domain teachers (training/fit/teachers.py)."""

import math

import pytest
import torch

from ss3d_core.losses.pose_supervision import rotation_geodesic, translation_direction_loss
from ss3d_core.pose import pose_from_axis_angle_translation
from training.fit.distillation import Predictions, depth_distillation_loss, distillation_loss


def _predictions(seed: int, b: int = 3) -> Predictions:
    g = torch.Generator().manual_seed(seed)
    depth = 1.0 + 20.0 * torch.rand(b, 1, 8, 12, generator=g)
    poses = tuple(pose_from_axis_angle_translation(0.05 * torch.randn(b, 3, generator=g),
                                                   torch.randn(b, 3, generator=g)) for _ in range(2))
    return Predictions(depth, poses, 0.5 + 0.3 * torch.rand(b, 4, generator=g))


def test_zero_when_the_student_equals_the_teacher():
    p = _predictions(0)
    terms = distillation_loss(p, p)
    assert set(terms) == {"total", "depth", "rotation", "translation", "intrinsics"}
    assert all(float(v) == pytest.approx(0.0, abs=1e-3) for v in terms.values())


def test_depth_term_ignores_each_samples_scale_and_pose_term_the_translation_length():
    p = _predictions(0)
    scaled = Predictions(p.depth * torch.tensor([0.1, 3.0, 50.0]).view(3, 1, 1, 1),
                         tuple(T.clone() for T in p.poses), p.intrinsics)
    for T in scaled.poses:
        T[:, :3, 3] *= 7.0
    assert float(depth_distillation_loss(scaled.depth, p.depth)) == pytest.approx(0.0, abs=1e-5)
    assert float(distillation_loss(scaled, p)["total"]) == pytest.approx(0.0, abs=1e-3)


def test_positive_for_a_different_prediction_and_gradients_reach_the_student():
    teacher = _predictions(0)
    student = _predictions(1)
    student.depth.requires_grad_(True)
    student.intrinsics.requires_grad_(True)
    terms = distillation_loss(student, teacher)
    assert all(float(terms[k].detach()) > 0.01 for k in ("depth", "rotation", "translation", "intrinsics"))
    terms["total"].backward()
    assert student.depth.grad.abs().sum() > 0 and student.intrinsics.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown distillation weights"):
        distillation_loss(student, teacher, {"dept": 1.0})


def test_rotation_geodesic_is_the_angle_and_has_a_finite_gradient_at_zero():
    angle = torch.tensor([0.0, 0.3, 3.0])
    R = pose_from_axis_angle_translation(torch.stack([torch.zeros(3), torch.zeros(3), angle], 1), torch.zeros(3, 3))
    identity = torch.eye(3).expand(3, 3, 3)
    ours = rotation_geodesic(identity, R[:, :3, :3])
    assert ours.tolist() == pytest.approx(angle.tolist(), abs=1e-3)
    R0 = torch.eye(3, requires_grad=True)
    rotation_geodesic(R0[None], torch.eye(3)[None]).sum().backward()
    assert torch.isfinite(R0.grad).all()


def test_translation_direction_skips_pairs_without_teacher_translation():
    t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert float(translation_direction_loss(t, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))) == pytest.approx(1.0)
    assert float(translation_direction_loss(t, torch.zeros(2, 3))) == 0.0
    assert float(translation_direction_loss(-t, t)) == pytest.approx(2.0)
    assert math.isfinite(float(translation_direction_loss(torch.zeros(2, 3), t)))


def test_domain_teachers_score_each_sample_with_its_domains_expert(tmp_path, tiny_config):
    from ss3d_core.checkpoint import CheckpointError, CheckpointMetadata, save_checkpoint
    from ss3d_core.network import SS3DNet
    from training.fit.teachers import DomainTeachers, triplet_predictions

    experts = {}
    for seed, domain in enumerate(("forward", "near_field")):
        torch.manual_seed(seed)
        experts[domain] = str(tmp_path / domain)
        save_checkpoint(SS3DNet(tiny_config).eval(), experts[domain],
                        CheckpointMetadata(tiny_config, (0.8, 1.2, 0.5, 0.5)))
    (tmp_path / "domains.csv").write_text("name,domain\ndrive,forward\nroom,near_field\nhill,far_field\n")
    teachers = DomainTeachers(experts, str(tmp_path / "domains.csv"), tiny_config)
    frames = torch.rand(4, 3, 3, 64, 96)
    predictions, mask = teachers.predict(frames, ["room", "hill", "drive", "unknown"])
    assert mask.tolist() == [True, False, True, False]
    with torch.no_grad():
        room = triplet_predictions(teachers.nets["near_field"], frames[[0]])[0]
        drive = triplet_predictions(teachers.nets["forward"], frames[[2]])[0]
    assert torch.allclose(predictions.depth[0], room.depth[0]) and torch.allclose(predictions.depth[1], drive.depth[0])
    assert torch.allclose(predictions.intrinsics[1], drive.intrinsics[0])
    assert teachers.predict(frames[:1], ["hill"])[0] is None
    other = tiny_config.__class__(**{**tiny_config.__dict__, "motion_channels": 16})
    with pytest.raises(CheckpointError, match="differs from the student"):
        DomainTeachers(experts, str(tmp_path / "domains.csv"), other)
