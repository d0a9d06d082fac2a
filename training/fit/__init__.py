"""What Lightning fits, Lightning's own three files plus their parts: the LightningDataModule serving frame triplets
from the training cache (:mod:`.datamodule`), the LightningModule with its losses (:mod:`.module`), its parameter groups
and per-stage learning rates (:mod:`.param_groups`), precision (:mod:`.precision`), the network's ``torch.compile``
(:mod:`.compiled_network`), distillation from the domain experts (:mod:`.distillation`, :mod:`.teachers`), each clip's
running focal-length estimate for the one-camera-one-focal-length term (:mod:`.clip_intrinsics`), the export callback
and command (:mod:`.export`), and the LightningCLI of ``python -m training fit`` with the configs folder (:mod:`.cli`).
To change the loss or the optimiser, start in :mod:`.module`. It may import :mod:`training.corpus`, :mod:`training.sfm`,
:mod:`training.data` and :mod:`training.labels`, never :mod:`training.pipeline` or :mod:`training.finetune`
(``test/test_boundaries.py`` states the layer order)."""
