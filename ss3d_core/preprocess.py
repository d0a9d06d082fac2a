"""Image preprocessing at the network boundary: uint8 RGB at any size -> network input tensor layout."""

from __future__ import annotations

import cv2
import numpy as np


def validate_rgb8(image: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``image`` is a non-empty ``H×W×3`` uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {type(image).__name__} {shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image {image.shape}")


def to_network_input(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (area interpolation when shrinking, linear when enlarging) and lay out for the network.

    Args:
        rgb: ``H×W×3`` uint8 RGB.
        width, height: network input size in pixels.

    Returns:
        ``1×3×height×width`` float32 RGB in ``[0, 1]``, C-contiguous. Intrinsics follow the resize through their
        normalised form (see :mod:`ss3d_core.camera`).
    """
    validate_rgb8(rgb)
    shrinking = width < rgb.shape[1] or height < rgb.shape[0]
    resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    # One pass and one allocation: HWC uint8 -> CHW float32 / 255 written straight into the output.
    out = np.empty((1, 3, height, width), dtype=np.float32)
    np.divide(resized.transpose(2, 0, 1), np.float32(255.0), out=out[0], dtype=np.float32)
    return out
