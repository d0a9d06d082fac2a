"""The SS3D schedule's stage switch: per-stage parameter groups and learning rates (training/param_groups.py, the
stage configs), and stage 2 starting from stage 1's export."""

import lightning as L
import pytest
import torch
import yaml
from test_training import _sample_data

from ss3d_core.network import SS3DNet
from training.cli import CONFIG_DIR
from training.export import ExportCheckpoint
from training.module import SS3DLightningModule
from training.param_groups import GROUPS, freeze_groups, optimiser_groups, parameter_groups


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
    export = tmp_path / "stage1" / "ss3d_small"
    trainer = L.Trainer(max_steps=2, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, num_sanity_val_steps=0, val_check_interval=2,
                        callbacks=[ExportCheckpoint(str(export), command="stage 1")])
    trainer.fit(first, datamodule=_sample_data(tmp_path))
    rates1 = {g["name"]: g["lr"] for g in trainer.optimizers[0].param_groups}
    # Stage 1: K, pose, trunk and encoder at the full rate, the depth decoder at a tenth (depth trails K).
    assert rates1["intrinsics"] == rates1["encoder"] == pytest.approx(1e-3)
    assert rates1["depth_decoder"] == pytest.approx(1e-4)

    second = SS3DLightningModule(net=tiny_config, lr=stage2["lr"], lr_scales=stage2["lr_scales"],
                                 epipolar_weight=stage2["epipolar_weight"], init_from=str(export))
    assert all(torch.equal(a, b) for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values()))
    rates2 = {g["name"]: g["lr"] for g in second.configure_optimizers()["optimizer"].param_groups}
    # Stage 2: everything at 1e-4, K at a tenth of it (settled in stage 1).
    assert rates2["depth_decoder"] == rates2["encoder"] == pytest.approx(1e-4)
    assert rates2["intrinsics"] == pytest.approx(1e-5)
    assert rates1 != rates2
