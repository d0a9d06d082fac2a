"""MVS filtering and curriculum sampling: training reads the proxy's scores instead of a human label.

Filtering (:func:`kept_segments`): a clip segment trains only if its ``mvs_score`` in ``scores.csv``
(:mod:`training.corpus.mvs_cli`) is at least ``min_score``; segments the scores do not list fall back to their clip's
row, and a clip without a row is dropped (it was never scored). A clip whose rows name an evaluation sequence in the
``holdout`` column (it shares frames with it, :mod:`training.data.holdout`) is dropped whatever ``min_score``.

Curriculum (:class:`CurriculumSampler`, SS3D §3 / GUIDE §1: strong-signal clips first, weaker ones later): every
training window (a triplet) carries its segment's score. In epoch ``e`` the sampler draws from the strongest fraction
``f(e)`` of the windows::

    f(e) = start_fraction + (1 - start_fraction) · min(1, e / ramp_epochs)

so training starts on the top ``start_fraction`` windows and reaches the whole filtered set at epoch
``ramp_epochs`` (``ramp_epochs = 0`` or ``start_fraction = 1``: uniform sampling from the start). An epoch always has
the same number of samples (the pool is permuted and tiled), so schedules and step counts do not depend on it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["DEFAULT_MVS_MIN_SCORE", "CurriculumSampler", "SegmentScore", "curriculum_fraction", "kept_segments",
           "read_segment_scores"]

# Segments whose MVS score is below this do not train (the proxy's pair signal, training.corpus.mvs, averages to
# 0.05 when one sampled pair in twenty has full parallax and rigidity, or all have a twentieth of it).
DEFAULT_MVS_MIN_SCORE = 0.05


@dataclass(frozen=True)
class SegmentScore:
    """One row of ``scores.csv``: ``segment`` is ``"all"`` for the clip row, else the segment index; ``holdout``
    names the evaluation sequences the clip shares frames with (empty: none; scores written before the column)."""

    name: str
    segment: str
    start: int
    end: int
    mvs_score: float
    holdout: str = ""


def read_segment_scores(path: str | Path) -> dict[str, list[SegmentScore]]:
    """Rows of a ``scores.csv`` grouped by clip name.

    Raises:
        FileNotFoundError: no such file. ValueError: a required column is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MVS scores not found (write them with `python -m training mvs`)")
    scores: dict[str, list[SegmentScore]] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"name", "segment", "start", "end", "mvs_score"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: not an MVS scores file (missing columns {sorted(missing)})")
        for row in reader:
            scores.setdefault(row["name"], []).append(
                SegmentScore(row["name"], row["segment"], int(row["start"]), int(row["end"]), float(row["mvs_score"]),
                             row.get("holdout") or "")
            )
    return scores


def window_score(rows: list[SegmentScore], target: int) -> float | None:
    """The score of the segment holding frame ``target`` (the clip row when no segment row does); ``None`` when
    the clip has no rows."""
    for row in rows:
        if row.segment != "all" and row.start <= target < row.end:
            return row.mvs_score
    clip = [r for r in rows if r.segment == "all"]
    return clip[0].mvs_score if clip else None


def kept_segments(scores: dict[str, list[SegmentScore]], min_score: float) -> dict[str, list[tuple[int, int]]]:
    """``{clip: [(start, end), ...]}`` of the segments whose score is at least ``min_score`` (clips with none, and
    clips held out for sharing frames with an evaluation sequence, are left out)."""
    kept: dict[str, list[tuple[int, int]]] = {}
    for name, rows in scores.items():
        if any(r.holdout for r in rows):
            continue
        segments = [r for r in rows if r.segment != "all"] or [r for r in rows if r.segment == "all"]
        spans = [(r.start, r.end) for r in segments if r.mvs_score >= min_score]
        if spans:
            kept[name] = spans
    return kept


def curriculum_fraction(epoch: int, start_fraction: float, ramp_epochs: int) -> float:
    """``f(epoch)`` of the module docstring, in ``[start_fraction, 1]``.

    Raises:
        ValueError: ``start_fraction`` outside ``(0, 1]`` or negative ``ramp_epochs``.
    """
    if not 0 < start_fraction <= 1:
        raise ValueError(f"curriculum start_fraction must be in (0, 1], got {start_fraction}")
    if ramp_epochs < 0:
        raise ValueError(f"curriculum ramp_epochs must be >= 0, got {ramp_epochs}")
    if ramp_epochs == 0:
        return 1.0
    return start_fraction + (1.0 - start_fraction) * min(1.0, max(epoch, 0) / ramp_epochs)


class CurriculumSampler(Sampler[int]):
    """Sample indices of a dataset whose items carry MVS scores, strongest first (see the module docstring).

    Args:
        scores: ``N`` float scores, one per dataset item.
        start_fraction, ramp_epochs: the schedule of :func:`curriculum_fraction`.
        seed: base seed; epoch ``e`` permutes with ``seed + e``, so runs are reproducible.

    Lightning calls :meth:`set_epoch` before each epoch; when it cannot (a custom sampler wrapped for DDP), each
    ``__iter__`` advances the epoch by one, which is the same count. Ties in score keep the dataset order.
    """

    def __init__(self, scores: np.ndarray, start_fraction: float = 1.0, ramp_epochs: int = 0, seed: int = 0):
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 1 or len(scores) == 0:
            raise ValueError("CurriculumSampler needs a non-empty 1-D score array")
        curriculum_fraction(0, start_fraction, ramp_epochs)  # validates the schedule
        self.order = np.argsort(-scores, kind="stable")
        self.start_fraction = start_fraction
        self.ramp_epochs = ramp_epochs
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the schedule of ``epoch`` for the next iteration."""
        self.epoch = epoch

    def pool(self, epoch: int) -> np.ndarray:
        """Dataset indices drawn from in ``epoch`` (the strongest ``ceil(f(epoch) · N)``)."""
        fraction = curriculum_fraction(epoch, self.start_fraction, self.ramp_epochs)
        return self.order[: max(1, math.ceil(fraction * len(self.order)))]

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[int]:
        pool = self.pool(self.epoch)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        repeats = math.ceil(len(self.order) / len(pool))
        drawn = torch.cat([torch.from_numpy(pool)[torch.randperm(len(pool), generator=generator)]
                           for _ in range(repeats)])[: len(self.order)]
        self.epoch += 1
        return iter(drawn.tolist())
