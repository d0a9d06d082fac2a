"""Robust running estimate of the learned intrinsics over a stream."""

from __future__ import annotations

from collections import deque

import numpy as np


class IntrinsicsFilter:
    """Sliding-window per-parameter median of normalised intrinsics ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)``.

    A median over the last ``window`` pair predictions rejects the outliers that degenerate pairs produce (no
    parallax, dynamic objects); with ``freeze_after`` set, the estimate stops changing once that many predictions
    were seen (useful once the camera is known not to zoom).

    Args:
        prior: estimate returned before any update (e.g. the checkpoint's training-set median).
        window: number of recent predictions kept (>= 1).
        freeze_after: stop updating after this many accepted predictions (``None``: never freeze).

    Raises:
        ValueError: on a non-positive window, or a prior that is not 4 finite positive numbers.
    """

    def __init__(self, prior: np.ndarray, window: int = 30, freeze_after: int | None = None):
        prior = np.asarray(prior, dtype=np.float64)
        if prior.shape != (4,) or not np.all(np.isfinite(prior)) or np.any(prior <= 0):
            raise ValueError(f"prior must be 4 finite positive numbers, got {prior}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if freeze_after is not None and freeze_after < 1:
            raise ValueError(f"freeze_after must be >= 1 or None, got {freeze_after}")
        self.prior = prior
        self.window = window
        self.freeze_after = freeze_after
        self._samples: deque[np.ndarray] = deque(maxlen=window)
        self.num_updates = 0

    @property
    def frozen(self) -> bool:
        """True once ``freeze_after`` predictions were accepted."""
        return self.freeze_after is not None and self.num_updates >= self.freeze_after

    @property
    def estimate(self) -> np.ndarray:
        """Current normalised intrinsics (4,) float64: the window median, or the prior before any update."""
        if not self._samples:
            return self.prior.copy()
        return np.median(np.stack(self._samples), axis=0)

    def update(self, intrinsics_norm: np.ndarray) -> np.ndarray:
        """Add one pair prediction (ignored when frozen or non-finite); returns :attr:`estimate`."""
        sample = np.asarray(intrinsics_norm, dtype=np.float64)
        if not self.frozen and sample.shape == (4,) and np.all(np.isfinite(sample)):
            self._samples.append(sample)
            self.num_updates += 1
        return self.estimate

    def reset(self) -> None:
        """Forget all predictions (a new camera or resolution)."""
        self._samples.clear()
        self.num_updates = 0
