"""The ``default_k`` baseline: a generic intrinsics guess that needs no calibration; and ``corpus_k``, the same
constant K at the training corpus's median focal length (what a K head learns if it learns nothing but that average;
``ss3d_eval --corpus-fx-per-width``, the value ``python -m training sfm`` prints from its reconstructions).

``fx = fy = 0.8·W`` (a horizontal field of view of 2·atan(1 / (2·0.8)) ≈ 64°, typical of phone and webcam lenses;
the same normalised focal is the prior of the bundled checkpoint) and the principal point at the image centre, which
under the pixel-centre convention of :mod:`ss3d_core.camera` is ``((W - 1) / 2, (H - 1) / 2)``.
"""

from __future__ import annotations

import numpy as np

from ss3d_core.camera import GUESS_FOCAL_PER_WIDTH  # focal length of the generic guess, image widths (≈ 64° FOV)

__all__ = ["GUESS_FOCAL_PER_WIDTH", "generic_guess_K"]


def generic_guess_K(width: int, height: int, focal_per_width: float = GUESS_FOCAL_PER_WIDTH) -> np.ndarray:
    """``3×3`` float64 pixel K with ``fx = fy = focal_per_width·width`` (default 0.8) and the principal point at the
    image centre.

    Raises:
        ValueError: on a non-positive size or focal length.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    if not focal_per_width > 0:
        raise ValueError(f"focal_per_width must be positive, got {focal_per_width}")
    f = focal_per_width * width
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
