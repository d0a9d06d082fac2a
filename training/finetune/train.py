"""The training part of a fine-tuning run: the recipe (:mod:`training.finetune.recipe`) on one log clip, from a
checkpoint, within a wall-time budget, resumable, exporting an SS3D checkpoint the node and ``ss3d_eval`` load.

Lightning does the work: ``max_time`` is the budget (its Timer is saved in the checkpoint, so a resumed run continues
the same budget); ``ModelCheckpoint(save_last=True)`` after every epoch and :class:`SaveLastAtEnd` when the budget
stops the fit mid-epoch write what a rerun resumes from (``<out>/lightning/last.ckpt``; without the second, a rerun
of a finished run resumed from the last epoch's end and re-exported those older weights over the newer export); the
progress bar is Lightning's, and :class:`training.fit.export.ExportCheckpoint` writes ``<out>/ss3d_small`` after each
validation and at the end.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from ss3d_core.checkpoint import read_metadata
from ss3d_core.network import SS3DNetConfig
from training.finetune import recipe
from training.finetune.log_clip import LogClip
from training.fit.datamodule import ClipDataModule
from training.fit.export import ExportCheckpoint
from training.fit.module import SS3DLightningModule

LOG = logging.getLogger(__name__)

EXPORT_NAME = "ss3d_small"
LAST_CKPT = Path("lightning") / "last.ckpt"


class SaveLastAtEnd(Callback):
    """Writes ``<out>/lightning/last.ckpt`` when the fit ends (Lightning's ``ModelCheckpoint`` writes only at epoch and
    validation ends), so the checkpoint a rerun resumes from holds the exported weights and the spent budget."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(str(self.path))


@dataclass(frozen=True)
class TrainingRun:
    """Where a fine-tuning run's outputs are and how far it got.

    Attributes:
        export: the SS3D checkpoint path without suffix.
        global_step: optimiser steps done (over every resume).
        resumed: whether this call resumed an earlier run.
    """

    export: Path
    global_step: int
    resumed: bool


def fit_on_log(
    clip: LogClip, start: str, out: Path, budget_s: float, known_intrinsics: list[float] | None,
    metadata: dict[str, object], progress_bar: bool = True, accelerator: str = "auto", sfm_dir: Path | None = None,
) -> TrainingRun:
    """Train the recipe on ``clip`` from checkpoint ``start`` for at most ``budget_s`` seconds of training (summed
    over resumes), and export to ``<out>/ss3d_small``.

    Args:
        clip: the prepared log (:func:`training.finetune.log_clip.prepare_log_clip`).
        start: starting SS3D checkpoint (path without suffix); its architecture is the one trained.
        out: the run folder (``lightning/``, ``logs/``, ``cache/`` and the export go there).
        budget_s: training wall time, seconds (> 0).
        known_intrinsics: calibrated normalised K of the log's camera (``use_known_intrinsics``), or ``None``.
        metadata: extra entries for the export's ``training`` metadata (command, bag, hash, hold-out, K).
        progress_bar: show Lightning's progress bar.
        accelerator: Lightning accelerator (``auto`` uses a GPU when one is visible).
        sfm_dir: the SfM store of the log's training part (:mod:`training.finetune.log_sfm`): its labels train with
            the teacher's terms (:func:`training.finetune.recipe.sfm_model`); ``None``: the recipe alone.

    Raises:
        ValueError: ``budget_s`` not positive. ss3d_core.checkpoint.CheckpointError: unreadable ``start``.
    """
    if not budget_s > 0:
        raise ValueError(f"the training budget must be > 0 s, got {budget_s}")
    config = read_metadata(start).architecture
    L.seed_everything(0, workers=True)
    data = ClipDataModule(
        root=str(clip.root), mvs_scores=str(clip.scores_csv), curriculum_ramp_epochs=recipe.CURRICULUM_RAMP_EPOCHS,
        height=config.input_height, width=config.input_width, cache_dir=str(out / "cache"),
        known_intrinsics=known_intrinsics, sfm_dir=None if sfm_dir is None else str(sfm_dir), **recipe.DATA,
    )
    teacher = recipe.sfm_model() if sfm_dir is not None else {}
    module = SS3DLightningModule(net=config, init_from=start, use_known_intrinsics=known_intrinsics is not None,
                                 **recipe.MODEL, **teacher)
    export = out / EXPORT_NAME
    last = out / LAST_CKPT
    resumed = last.is_file()
    trainer = L.Trainer(
        accelerator=accelerator,
        max_epochs=-1,
        max_time=datetime.timedelta(seconds=budget_s),
        log_every_n_steps=5,
        enable_progress_bar=progress_bar,
        check_val_every_n_epoch=recipe.VALIDATE_EVERY_N_EPOCHS,
        num_sanity_val_steps=0,
        default_root_dir=str(out),
        logger=CSVLogger(str(out), name="logs"),
        callbacks=[ExportCheckpoint(str(export), command=str(metadata.get("command", "")),
                                    extra={"finetune": metadata}),
                   ModelCheckpoint(dirpath=str(out / "lightning"), save_last=True, every_n_epochs=1),
                   SaveLastAtEnd(out / LAST_CKPT)],
    )
    LOG.info("training %s for at most %.1f min%s", start, budget_s / 60, f" (resuming {last})" if resumed else "")
    # The resume checkpoint is this run's own file; Lightning loads it with torch.load(weights_only=True), which needs
    # the architecture dataclass in the saved hyperparameters allow-listed (a plain dataclass of numbers).
    with torch.serialization.safe_globals([SS3DNetConfig]):
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if resumed else None)
    return TrainingRun(export, trainer.global_step, resumed)
