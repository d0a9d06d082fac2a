"""The ``constant_depth`` baseline: the same depth everywhere.

After per-image median scaling a constant prediction equals the ground-truth median at every pixel, so its scores
are the floor any depth network must beat: they measure only how much the scene's depth varies.
"""

from __future__ import annotations

import numpy as np

__all__ = ["constant_depth_prediction"]


def constant_depth_prediction(height: int, width: int, value: float = 1.0) -> np.ndarray:
    """``height×width`` float32 map filled with ``value`` (relative unit; the scale is removed by median scaling).

    Raises:
        ValueError: on a non-positive size or value.
    """
    if height <= 0 or width <= 0 or not value > 0:
        raise ValueError(f"need a positive size and value, got {height}×{width}, value={value}")
    return np.full((height, width), value, dtype=np.float32)
