"""Summary statistics over per-item scores that may be missing (``None`` = not scored, e.g. no labels, no pose)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["mean_or_none", "median_or_none"]


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not ``None``; ``None`` when there is none."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def median_or_none(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not ``None``; ``None`` when there is none."""
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None
