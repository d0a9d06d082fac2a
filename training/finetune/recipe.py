"""The fine-tuning recipe of ``python -m training finetune``, written down (with its reasons) before any run on the
KITTI odometry check, and not changed after seeing its results.

It is the shipped recipe (``training/configs/warm_dashcam_labels.yaml``, stage 9: photometric + rigid flow 2 +
epipolar 8 + triangulated labels 1, crops down to 70 %, 128×224, batch 8) with three changes, each for a stated
reason:

- **Learning rate 1e-4, constant.** Stage 9 restarted at 1e-3 and decayed to 1e-4; the shipped weights are where that
  schedule ended. Adapting them to one log of a few hundred frames is a continuation, not a warm restart: 1e-3 would
  move the weights as far as a new stage does, on a hundredth of the data, and overfit the log. Constant, because a
  wall-time budget fixes no step count for a cosine schedule to end on (``final_lr_fraction = 1``).
- **MVS selection and curriculum over stretches of the log** (the corpus stage, :mod:`training.corpus`): the training
  part of the log is cut into :data:`STRETCH_S`-second stretches, each scored by the MVS proxy; stretches under the
  corpus threshold (0.05) do not train, and the first :data:`CURRICULUM_RAMP_EPOCHS` epochs ramp from the strongest
  half of the windows to all of them. A robot that stands still or turns in place gives no parallax there.
- **The SIFT flow check on** (the corpus stage's default): frame drops and fast motion in robot logs must not become
  wrong flow supervision.
- **The SfM teacher's terms** (added with issue 23, after the KITTI check below was run): COLMAP reconstructs the
  log's training part (:mod:`training.finetune.log_sfm`) and, when its labels are usable, the four terms of
  ``training/configs/sfm_teacher.yaml`` train with their weights and reasons as written there (:func:`sfm_model`),
  the same as in every corpus fit: a multi-view reconstruction of the robot's own camera gives the K, pose and sparse
  depth labels that one log's photometric loss learns slowly (docs/sfm_teacher.md).

Held back: the last :data:`HOLDOUT_FRACTION` of the log by time is never trained on (nor validated on); the report
scores it. Validation (the exported intrinsics prior) uses the last 10 % of the training part, as every stage does.
"""

from __future__ import annotations

import yaml

from ss3d_core.losses.view_synthesis import SMOOTHNESS_WEIGHT
from training.corpus.curriculum import DEFAULT_MVS_MIN_SCORE
from training.pipeline.schedule import SFM_TEACHER

# Model (the LightningModule's arguments; the architecture comes from the starting checkpoint).
MODEL = {
    "lr": 1.0e-4,
    "final_lr_fraction": 1.0,
    "flow_weight": 2.0,
    "epipolar_weight": 8.0,
    "triangulation_weight": 1.0,
    "label_gate_max_depth_baselines": None,
    "automask": True,
    "smoothness_weight": SMOOTHNESS_WEIGHT,
}
# Data (the DataModule's arguments besides the clip, the scores, the size and the cache).
DATA = {
    "target_rate_hz": 10.0,
    "batch_size": 8,
    "num_workers": 0,
    "val_fraction": 0.1,
    "min_crop_fraction": 0.7,
    "flow_match_check": True,
    "mvs_min_score": DEFAULT_MVS_MIN_SCORE,
    "curriculum_start_fraction": 0.5,
}
# Epochs over which the curriculum reaches every window (a few passes over a short log's strongest half).
CURRICULUM_RAMP_EPOCHS = 5
# Length of the stretches of the log that the MVS proxy scores, seconds (four of its 0.5-s pairs fit, so a stop of
# a few seconds is its own stretch).
STRETCH_S = 2.0
# The held-back part of the log, by time, for the report.
HOLDOUT_FRACTION = 0.2
# Validate (and export) every this many epochs: a short log's epoch is a few steps.
VALIDATE_EVERY_N_EPOCHS = 5
# Fewest training triplets in stretches that pass the MVS threshold: two batches of the recipe's 8. Below it the log
# has too little usable motion and the command refuses.
MIN_USABLE_TRIPLETS = 16
# Fewest frames the held-back part needs for the report (two consecutive pairs).
MIN_HOLDOUT_FRAMES = 3


def sfm_model() -> dict[str, float]:
    """The SfM teacher's ``sfm_*_weight`` arguments of the module, as ``training/configs/sfm_teacher.yaml`` sets them
    (the file every corpus fit adds: one home for the weights and their reasons)."""
    model = yaml.safe_load(SFM_TEACHER.read_text())["model"]
    return {name: float(value) for name, value in model.items() if name.startswith("sfm_")}


def recipe_record() -> dict[str, object]:
    """The recipe as one JSON-ready dict (written into the export's metadata and the report)."""
    return {"model": MODEL, "data": DATA, "curriculum_ramp_epochs": CURRICULUM_RAMP_EPOCHS, "stretch_s": STRETCH_S,
            "holdout_fraction": HOLDOUT_FRACTION, "min_usable_triplets": MIN_USABLE_TRIPLETS,
            "sfm_teacher": sfm_model(), "source": "training/finetune/recipe.py"}
