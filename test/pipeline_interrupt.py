"""A callback that ends the training process abruptly at a given step (``os._exit``: no cleanup, like a kill), for the
pipeline's resume test (test_pipeline.py puts this folder on ``PYTHONPATH`` of the fit processes)."""

import os

import lightning as L


class ExitAtStep(L.Callback):
    """Exit the process with status 137 once ``trainer.global_step`` reaches ``step`` (a checkpoint callback that
    saves every step has then saved step ``step - 1``: Lightning runs checkpoint callbacks last)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os._exit(137)
