"""The SS3D schedule's stage switch: per-stage parameter groups and learning rates (training/fit/param_groups.py, the
stage configs), and stage 2 starting from stage 1's export."""

import pytest
import torch
import yaml

from ss3d_core.checkpoint import CheckpointMetadata, save_checkpoint
from ss3d_core.network import SS3DNet
from training.fit.cli import CONFIG_DIR
from training.fit.module import SS3DLightningModule
from training.fit.param_groups import GROUPS, freeze_groups, optimiser_groups, parameter_groups


def _model_config(stage: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / f"{stage}.yaml").read_text())["model"]


def test_groups_partition_the_network(tiny_config):
    net = SS3DNet(tiny_config)
    groups = parameter_groups(net)
    assert tuple(groups) == GROUPS
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    assert groups["intrinsics"] == list(net.motion_head.intrinsics.parameters())
    with pytest.raises(ValueError, match="unknown parameter groups"):
        optimiser_groups(net, 1e-3, {"decoder": 0.5})
    with pytest.raises(ValueError, match=">= 0"):
        optimiser_groups(net, 1e-3, {"pose": -1.0})


def test_a_zero_multiplier_freezes_its_group(tiny_config):
    net = SS3DNet(tiny_config)
    freeze_groups(net, {"depth_decoder": 0.0})
    assert not any(p.requires_grad for p in net.depth_decoder.parameters())
    assert [g["name"] for g in optimiser_groups(net, 1e-3, {"depth_decoder": 0.0})] == [
        "encoder", "motion_trunk", "pose", "intrinsics"]


def test_stage_switch_changes_the_groups_rates_and_starts_from_stage_1(tmp_path, tiny_config):
    stage1, stage2 = _model_config("stage1_intrinsics_first"), _model_config("stage2_joint")
    first = SS3DLightningModule(net=tiny_config, lr=stage1["lr"], lr_scales=stage1["lr_scales"],
                                epipolar_weight=stage1["epipolar_weight"], flow_weight=2.0)
    rates1 = {g["name"]: g["lr"] for g in first.configure_optimizers()["optimizer"].param_groups}
    with torch.no_grad():  # stand-in for stage 1's training (test_pipeline.py trains it): weights that are not the seed
        for p in first.net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    export = tmp_path / "stage1" / "ss3d_small"
    save_checkpoint(first.net, export, CheckpointMetadata(tiny_config, (0.8, 1.2, 0.5, 0.5)))
    # Stage 1: K, pose, trunk and encoder at the full rate, the depth decoder at a tenth (depth trails K).
    assert rates1["intrinsics"] == rates1["encoder"] == pytest.approx(1e-3)
    assert rates1["depth_decoder"] == pytest.approx(1e-4)

    torch.manual_seed(1)
    second = SS3DLightningModule(net=tiny_config, lr=stage2["lr"], lr_scales=stage2["lr_scales"],
                                 epipolar_weight=stage2["epipolar_weight"], init_from=str(export))
    assert all(torch.equal(a, b) for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values()))
    rates2 = {g["name"]: g["lr"] for g in second.configure_optimizers()["optimizer"].param_groups}
    # Stage 2: everything at 1e-4, K at a tenth of it (settled in stage 1).
    assert rates2["depth_decoder"] == rates2["encoder"] == pytest.approx(1e-4)
    assert rates2["intrinsics"] == pytest.approx(1e-5)
    assert rates1 != rates2
