"""The SfM teacher on a fine-tuning log: COLMAP reconstructs the training part of the log, never the held-back part,
and its labels train with the recipe when they are usable (issue 23 item 6).

The log is one clip of the corpus stage (:mod:`training.finetune.log_clip`), so its reconstruction is an entry of an
SfM store (:mod:`training.sfm.store`, ``<out>/sfm``) built by :func:`training.sfm.clip_sfm.build_clip` with
``frame_end`` = the first held-back frame: COLMAP is given frames ``0 .. holdout_start - 1`` only (the held-back frames
are not even decoded for it), and the entry's key covers exactly that range, so a rerun reuses it and a different
hold-out rebuilds it. The entry's arrays still have one row per frame of the log (the training cache's frames), the
held-back ones unregistered.

A failure of any kind (no pycolmap, COLMAP finding no model, a timeout, too few registered frames, an implausible
focal length: :func:`training.sfm.store.usable_record`) leaves fine-tuning on the recipe's self-supervised terms, with
the reason in the report.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from ss3d_core.sfm.runner import DEFAULT_TIMEOUT_S, colmap_available
from training.finetune.log_clip import LogClip
from training.sfm.clip_sfm import build_clip
from training.sfm.store import usable_record

__all__ = ["SFM_BUDGET_FRACTION", "SFM_THREADS", "LogSfm", "reconstruct_training_part"]

LOG = logging.getLogger(__name__)

# Share of the run's wall-time budget that COLMAP may take (its timeout): at 0.5-2 s per frame on this 2-core machine
# (docs/sfm_teacher.md), a quarter of the default 20 minutes reconstructs 150-600 training frames and leaves most of
# the budget to training; a longer log times out and trains without labels, which the report says.
SFM_BUDGET_FRACTION = 0.25
# COLMAP threads: one, so that the same log always gives the same labels (with a fixed seed and one thread the model is
# bit-identical run to run, docs/sfm_teacher.md; with two, the bundle adjustments' order varies, and on the highway
# clip of the tests one run registered 2 of 32 training frames and the next all 32 with the focal length halved).
SFM_THREADS = 1
STORE_DIR = "sfm"


@dataclass(frozen=True)
class LogSfm:
    """What the SfM teacher gave a fine-tuning run.

    Attributes:
        store: the SfM store to train with (``data.sfm_dir``), or ``None`` when the labels are not used.
        frames: training frames given to COLMAP (the log's frames before the hold-out).
        registered: of those, frames COLMAP registered (0 when it failed).
        fx_px: the reconstruction's focal length in pixels at the log's size, or ``None``.
        seconds: COLMAP's wall time (of the run that built the stored entry), ``None`` when it did not run.
        reason: why there are no labels, or ``None`` when they train.
    """

    store: Path | None
    frames: int
    registered: int
    fx_px: float | None
    seconds: float | None
    reason: str | None

    def as_record(self) -> dict[str, object]:
        """JSON-ready fields for the export's metadata and the report."""
        return {**asdict(self), "store": None if self.store is None else str(self.store)}

    def summary(self) -> str:
        """One line for the report."""
        if self.seconds is None:  # COLMAP did not run
            return f"not run ({self.reason})."
        done = f"COLMAP registered {self.registered} of the {self.frames} training frames"
        if self.fx_px is not None:
            done += f" (fx {self.fx_px:.1f} px)"
        return f"{done}; its labels trained." if self.reason is None else f"{done}; no SfM labels: {self.reason}."


def reconstruct_training_part(clip: LogClip, out: Path, target_rate_hz: float, budget_s: float,
                              num_threads: int = SFM_THREADS) -> LogSfm:
    """Reconstruct the log's training part into ``<out>/sfm`` (or reuse it) and say whether its labels train.

    Args:
        clip: the prepared log (:func:`training.finetune.log_clip.prepare_log_clip`).
        out: the run folder.
        target_rate_hz: the training rate (frames as the training cache decodes them).
        budget_s: the run's wall-time budget, seconds; COLMAP's timeout is :data:`SFM_BUDGET_FRACTION` of it (at most
            the teacher's default timeout).
        num_threads: CPU threads of the COLMAP run (``-1``: all cores; default :data:`SFM_THREADS`).

    Returns:
        :class:`LogSfm`; never raises for a failed reconstruction.
    """
    frames = clip.holdout_start
    available, detail = colmap_available()
    if not available:
        return LogSfm(None, frames, 0, None, None, f"no SfM: {detail}")
    store = out / STORE_DIR
    timeout_s = min(DEFAULT_TIMEOUT_S, SFM_BUDGET_FRACTION * budget_s)
    LOG.info("SfM teacher: COLMAP on the %d training frames (held-back frames excluded), at most %.0f s", frames,
             timeout_s)
    build_clip(clip.spec, store, target_rate_hz, timeout_s, num_threads, frame_end=frames)
    record, reason = usable_record(store, clip.spec, target_rate_hz)
    K = record.get("K") if record else None
    outcome = LogSfm(store if reason is None else None, frames, int(record.get("registered") or 0) if record else 0,
                     None if K is None else float(K[0][0]), record.get("seconds") if record else None, reason)
    LOG.info("SfM teacher: %s", outcome.summary())
    return outcome
