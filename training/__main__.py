"""``python -m training fit --config training/configs/<name>.yaml``: LightningCLI over the SS3D trainer."""

from __future__ import annotations

from lightning.pytorch.cli import LightningCLI

from training.datamodule import ClipDataModule
from training.module import SS3DLightningModule


def main() -> None:
    """Run LightningCLI (subcommands fit/validate; see ``--help``)."""
    LightningCLI(SS3DLightningModule, ClipDataModule, save_config_kwargs={"overwrite": True})


if __name__ == "__main__":
    main()
