"""Summary statistics that may be undefined (``None`` = not scored, e.g. no labels, no pose, a constant map)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.stats import spearmanr

__all__ = ["mean_or_none", "median_or_none", "spearman_or_none"]


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not ``None``; ``None`` when there is none."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def median_or_none(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not ``None``; ``None`` when there is none."""
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def spearman_or_none(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation of two equally long 1-D samples; ``None`` when either is constant (undefined)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)
