"""Image preprocessing at the network boundary: uint8 RGB at any size -> network input tensor layout."""

from __future__ import annotations

import cv2
import numpy as np

# Smallest image side accepted (pixels): the encoder's total stride (five stride-2 stages), i.e. one cell of its
# coarsest feature map. A smaller image (1×1, a 3000×2 strip) has no structure to learn depth or motion from, and
# a K learned in its pixels is meaningless.
MIN_IMAGE_SIDE_PX = 32
# Largest factor by which the resize to the network input may change an image's aspect ratio (either way). Real
# cameras stay well inside it at the 224×128 (1.75:1) input: KITTI's 1242×375 (3.3:1) is stretched 1.9×, square
# images 1.75×, portrait 9:16 phone video 3.1×; a 3000×40 strip (75:1) would be squeezed 43× along one axis, and the
# network's two focal lengths, learned on undistorted resizes, mean nothing there.
MAX_ASPECT_DISTORTION = 4.0


def image_size_problem(width: int, height: int, network_size: tuple[int, int]) -> tuple[str, str] | None:
    """Why an image of ``width×height`` pixels cannot be used at ``network_size`` (``(width, height)``), or ``None``.

    Returns:
        ``("too_small", message)`` when a side is under :data:`MIN_IMAGE_SIDE_PX`; ``("aspect_ratio", message)``
        when resizing to ``network_size`` would change the aspect ratio by more than :data:`MAX_ASPECT_DISTORTION`;
        ``None`` otherwise.
    """
    if min(width, height) < MIN_IMAGE_SIDE_PX:
        return "too_small", f"image {width}×{height} is below {MIN_IMAGE_SIDE_PX} pixels a side"
    net_width, net_height = network_size
    distortion = (width / height) / (net_width / net_height)
    distortion = max(distortion, 1.0 / distortion)
    if distortion > MAX_ASPECT_DISTORTION:
        return "aspect_ratio", (f"image {width}×{height} would be stretched {distortion:.1f}× to the network input "
                                f"{net_width}×{net_height} (at most {MAX_ASPECT_DISTORTION:g}×)")
    return None


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
