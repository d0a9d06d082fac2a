"""Geometric augmentation of training triplets: horizontal flip and random resized crop.

Both act on a whole sample (every frame, flow and mask of a triplet gets the same transform), so the frames still
come from one camera. Neither needs to touch ``K``: the network predicts the intrinsics of the image it is given, and
the view-synthesis loss uses that prediction. A crop of a fraction ``s`` of the width resized back to the full width
multiplies the focal length in pixels by ``1/s`` (and shifts the principal point), which the intrinsics head has to
follow; independent x and y fractions also change the pixel aspect ratio, which is what the deployed network sees
when a 4:3 camera is resized to a 16:9 input (Gordon et al. 2019, "Depth from Videos in the Wild", trains learned
intrinsics with random crops for the same reason).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ss3d_core.camera import K_from_normalised, K_to_normalised


@dataclass(frozen=True)
class CropWindow:
    """A crop of an ``H×W`` image: columns ``x0 .. x0+width-1``, rows ``y0 .. y0+height-1`` (pixels)."""

    x0: int
    y0: int
    width: int
    height: int


def check_crop_fraction(value: float, name: str = "min_fraction") -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a crop fraction in ``(0, 1]``."""
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value}")


def sample_crop_window(
    height: int, width: int, min_fraction: float, rng: np.random.Generator
) -> CropWindow:
    """Draw a crop covering a fraction ``U(min_fraction, 1)`` of the width and, independently, of the height, at a
    uniformly random position.

    Raises:
        ValueError: if ``min_fraction`` is not in ``(0, 1]``.
    """
    check_crop_fraction(min_fraction)
    crop_w = int(round(width * rng.uniform(min_fraction, 1.0)))
    crop_h = int(round(height * rng.uniform(min_fraction, 1.0)))
    crop_w, crop_h = max(2, min(width, crop_w)), max(2, min(height, crop_h))
    x0 = int(rng.integers(0, width - crop_w + 1))
    y0 = int(rng.integers(0, height - crop_h + 1))
    return CropWindow(x0, y0, crop_w, crop_h)


def crop_resize_triplet(
    frames: np.ndarray, flows: list[np.ndarray], valid: list[np.ndarray], window: CropWindow
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Crop ``window`` out of every frame, flow and mask and resize it back to the full ``H×W``.

    Args:
        frames: ``T×H×W×3`` uint8 RGB.
        flows: ``H×W×2`` float32 flows in pixels; their vectors are scaled by ``(W/width, H/height)`` so that they
            stay in pixels of the resized image.
        valid: ``H×W`` bool masks, resized with nearest-neighbour sampling.

    Returns:
        ``(frames, flows, valid)`` with the input shapes and dtypes.
    """
    h, w = frames.shape[1:3]
    ys = slice(window.y0, window.y0 + window.height)
    xs = slice(window.x0, window.x0 + window.width)
    out_frames = np.stack([cv2.resize(f[ys, xs], (w, h), interpolation=cv2.INTER_LINEAR) for f in frames])
    scale = np.array([w / window.width, h / window.height], np.float32)
    out_flows = [cv2.resize(f[ys, xs], (w, h), interpolation=cv2.INTER_LINEAR) * scale for f in flows]
    out_valid = [
        cv2.resize(v[ys, xs].astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool) for v in valid
    ]
    return out_frames, out_flows, out_valid


def flip_triplet(
    frames: np.ndarray, flows: list[np.ndarray], valid: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Mirror a sample horizontally; the x component of every flow changes sign (shapes as in
    :func:`crop_resize_triplet`)."""
    flipped_flows = []
    for flow in flows:
        mirrored = flow[:, ::-1].copy()
        mirrored[..., 0] *= -1
        flipped_flows.append(mirrored)
    return frames[:, :, ::-1], flipped_flows, [v[:, ::-1] for v in valid]


def crop_resize_matrix(window: CropWindow, height: int, width: int) -> np.ndarray:
    """``3×3`` float64 pixel map ``x' = A x`` of :func:`crop_resize_triplet` (pixel-centre convention, as
    ``cv2.resize``: ``u' + 0.5 = (u - x0 + 0.5) · width / window.width``)."""
    sx, sy = width / window.width, height / window.height
    return np.array([[sx, 0.0, (0.5 - window.x0) * sx - 0.5], [0.0, sy, (0.5 - window.y0) * sy - 0.5], [0, 0, 1.0]])


def flip_matrix(width: int) -> np.ndarray:
    """``3×3`` float64 pixel map ``x' = A x`` of :func:`flip_triplet` (``u' = width - 1 - u``)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def augmented_intrinsics(intrinsics_norm: list[float], A: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised intrinsics (4 floats, see :func:`ss3d_core.camera.K_to_normalised`) of a frame of ``width×height``
    pixels after the pixel map ``x' = A x`` (3×3, a crop-resize and/or flip of the same size,
    :mod:`training.data.augmentation`). A flip mirrors the principal point; the focal lengths stay positive (the
    mirrored image is what a mirrored camera would see)."""
    K = A @ K_from_normalised(torch.tensor([intrinsics_norm], dtype=torch.float64), width, height)[0].numpy()
    K[0, 0] = abs(K[0, 0])
    return K_to_normalised(K, width, height)
