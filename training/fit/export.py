"""Export trained weights to the deployable SS3D checkpoint format (safetensors + JSON metadata).

Used as a Lightning callback during training (:class:`ExportCheckpoint`) and as a command that converts a
Lightning ``.ckpt`` *that you produced yourself* (``python -m training.fit.export --ckpt X.ckpt --out DIR/NAME``), or
writes the seeded, untrained network with the architecture of an existing checkpoint
(``python -m training.fit.export --untrained --like ss3d_core/models/ss3d_small --seed 0 --out DIR/NAME``): the
"untrained" reference that a trained checkpoint is compared with in ``ss3d_eval``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import lightning as L
import torch

from ss3d_core.checkpoint import CheckpointMetadata, bundled_checkpoint, read_metadata, save_checkpoint
from ss3d_core.network import SS3DNet, SS3DNetConfig
from ss3d_core.network.motion_head import FOCAL_PRIOR_X_NORM

# File name (without suffix) of a run's export in its folder, as bundled in ss3d_core/models/.
EXPORT_NAME = "ss3d_small"


def _default_prior(config: SS3DNetConfig) -> tuple[float, float, float, float]:
    return (FOCAL_PRIOR_X_NORM, FOCAL_PRIOR_X_NORM * config.input_width / config.input_height, 0.5, 0.5)


class ExportCheckpoint(L.Callback):
    """Write ``out`` (``.safetensors`` + ``.json``) after every validation run and at the end of fit.

    The export runs in ``on_validation_end``, after the module's ``on_validation_epoch_end`` has updated its
    ``intrinsics_prior`` from this validation (callbacks' ``on_validation_epoch_end`` run before the module's, so an
    export there carried the previous validation's prior).

    Args:
        out: checkpoint path without suffix (default: ``<trainer.default_root_dir>/ss3d_small``, the run folder).
        command: the training command recorded in the metadata (default: this process's command line).
        extra: more entries for the metadata's ``training`` block (JSON-ready; e.g. the fine-tuning run's bag, hash
            and calibration).
    """

    def __init__(self, out: str | None = None, command: str | None = None, extra: dict | None = None):
        self.out = out
        self.extra = dict(extra or {})
        self.command = command or shlex.join([Path(sys.executable).name, "-m", "training", *sys.argv[1:]])

    def _export(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        net = module.net
        prior = module.intrinsics_prior
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        datamodule = trainer.datamodule
        metadata = CheckpointMetadata(
            architecture=net.config,
            intrinsics_prior=tuple(float(x) for x in prior) if prior is not None else _default_prior(net.config),
            training={
                "command": self.command,
                "epoch": trainer.current_epoch,
                "global_step": trainer.global_step,
                "data_root": str(getattr(datamodule.hparams, "root", "")) if datamodule else "",
                "clips": datamodule.clip_names() if hasattr(datamodule, "clip_names") else [],
                "hyperparameters": {k: v for k, v in module.hparams.items() if k != "net"},
                **self.extra,
            },
            metrics={"validation": metrics},
        )
        was_training = net.training
        save_checkpoint(net.eval(), self.out or str(Path(trainer.default_root_dir) / EXPORT_NAME), metadata)
        net.train(was_training)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._export(trainer, pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._export(trainer, pl_module)


def _untrained(like: str, seed: int, out: str) -> tuple[Path, Path]:
    """Save a freshly initialised ``SS3DNet`` (``torch.manual_seed(seed)``) with the architecture of ``like``."""
    config = read_metadata(like).architecture
    torch.manual_seed(seed)
    net = SS3DNet(config).eval()
    metadata = CheckpointMetadata(
        architecture=config,
        intrinsics_prior=_default_prior(config),
        training={"command": f"untrained reference: architecture of {like}, torch.manual_seed({seed})",
                  "epoch": None, "global_step": 0},
    )
    return save_checkpoint(net, out, metadata)


def _convert(ckpt: str, out: str) -> tuple[Path, Path]:
    """Convert a Lightning checkpoint of :class:`training.fit.module.SS3DLightningModule` to the SS3D format."""
    from training.fit.module import SS3DLightningModule

    # weights_only=True: tensors and plain containers only, never arbitrary pickled objects.
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    hparams = state.get("hyper_parameters", {})
    net_config = hparams.get("net")
    module = SS3DLightningModule(net=SS3DNetConfig.from_dict(net_config) if isinstance(net_config, dict) else None)
    module.load_state_dict(state["state_dict"])
    metadata = CheckpointMetadata(
        architecture=module.net.config,
        intrinsics_prior=_default_prior(module.net.config),
        training={"command": f"converted from {ckpt}", "global_step": state.get("global_step")},
    )
    return save_checkpoint(module.net.eval(), out, metadata)


def main(argv: list[str] | None = None) -> int:
    """Write an SS3D checkpoint from a Lightning ``.ckpt`` or, with ``--untrained``, from a seeded initialisation."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt", help="Lightning .ckpt written by your own training run")
    source.add_argument("--untrained", action="store_true", help="write the seeded untrained network")
    parser.add_argument("--like", default=None, help="with --untrained: checkpoint whose architecture to use "
                        "(default: the bundled one)")
    parser.add_argument("--seed", type=int, default=0, help="with --untrained: torch seed of the initialisation")
    parser.add_argument("--out", required=True, help="output checkpoint path without suffix")
    args = parser.parse_args(argv)
    if args.untrained:
        paths = _untrained(args.like or str(bundled_checkpoint()), args.seed, args.out)
    else:
        paths = _convert(args.ckpt, args.out)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
