"""The training command line: LightningCLI over :class:`~training.fit.module.SS3DLightningModule` and
:class:`~training.fit.datamodule.ClipDataModule`, configured by ``configs/base.yaml`` plus one stage's override file.

A run writes everything under ``trainer.default_root_dir`` (each stage's override sets ``out/train/<stage>``): the CSV
logs (``logs/``, the logger's ``save_dir`` follows the run folder), Lightning's checkpoints (under the logs' version
folder) and the exported SS3D checkpoint (``ss3d_small.*``, :class:`~training.fit.export.ExportCheckpoint`). A
fine-tuning stage starts from an export given on the command line (``--model.init_from
out/train/<previous>/ss3d_small``), so stages chain by argument, not by paths written into the configs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.cli import LightningCLI

from ss3d_core.network import SS3DNetConfig
from training.fit.datamodule import ClipDataModule
from training.fit.module import SS3DLightningModule

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
BASE_CONFIG = CONFIG_DIR / "base.yaml"


class SS3DCLI(LightningCLI):
    """LightningCLI whose logger writes into the run folder (``trainer.default_root_dir``)."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("trainer.default_root_dir", "trainer.logger.init_args.save_dir")


def main(args: list[str] | None = None) -> None:
    """``python -m training fit --config training/configs/base.yaml --config training/configs/<stage>.yaml``."""
    # ``--ckpt_path`` (a resumed run, training/pipeline/schedule.py) is this run's own file; Lightning loads it with
    # torch.load(weights_only=True), which needs the architecture dataclass of the saved hyperparameters allow-listed.
    with torch.serialization.safe_globals([SS3DNetConfig]):
        SS3DCLI(SS3DLightningModule, ClipDataModule, save_config_kwargs={"overwrite": True}, args=args)
