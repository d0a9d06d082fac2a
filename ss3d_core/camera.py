"""Pinhole camera intrinsics ``K``: normalised <-> pixel form, resizing, back-projection and projection.

Pixel-centre convention (used everywhere in SS3D-ROS, identical to OpenCV and ROS ``CameraInfo``): integer pixel
coordinates ``(u, v)`` address pixel *centres*; the image spans ``u in [-0.5, W - 0.5]``. Under a resize by
``s = W' / W`` a principal point therefore maps as ``cx' = (cx + 0.5) * s - 0.5``, not ``cx * s``.

Inside the network intrinsics are *normalised* by the image size (GUIDE §3)::

    fx_n = fx / W,   fy_n = fy / H,   cx_n = (cx + 0.5) / W,   cy_n = (cy + 0.5) / H

which makes them invariant to resizing: the same four numbers describe the camera at any resolution.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "GUESS_FOCAL_PER_WIDTH",
    "K_from_normalised",
    "K_to_normalised",
    "scale_K",
    "square_pixel_intrinsics",
    "backproject",
    "project",
]

# The generic focal length guess of a camera without calibration, in image widths: fx = fy = 0.8·W, a horizontal field
# of view of 2·atan(1 / (2·0.8)) ≈ 64°, typical of phone and webcam lenses (ss3d_eval's default_k baseline; the
# network's focal prior, ss3d_core.network.motion_head.FOCAL_PRIOR_X_NORM, starts there too).
GUESS_FOCAL_PER_WIDTH = 0.8


def K_from_normalised(intrinsics_norm: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Assemble pixel intrinsics ``K`` from normalised ``(fx_n, fy_n, cx_n, cy_n)``.

    Args:
        intrinsics_norm: ``B×4`` float tensor ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)``, dimensionless.
        width: image width ``W`` in pixels that ``K`` should describe.
        height: image height ``H`` in pixels.

    Returns:
        ``B×3×3`` float tensor ``K`` in pixels at ``W×H`` (pixel-centre convention of this module).

    Raises:
        ValueError: if ``intrinsics_norm`` is not ``B×4`` or the size is not positive.
    """
    if intrinsics_norm.ndim != 2 or intrinsics_norm.shape[1] != 4:
        raise ValueError(f"intrinsics_norm must be B×4, got {tuple(intrinsics_norm.shape)}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    fx_n, fy_n, cx_n, cy_n = intrinsics_norm.unbind(dim=1)
    zeros = torch.zeros_like(fx_n)
    ones = torch.ones_like(fx_n)
    rows = [
        torch.stack([fx_n * width, zeros, cx_n * width - 0.5], dim=1),
        torch.stack([zeros, fy_n * height, cy_n * height - 0.5], dim=1),
        torch.stack([zeros, zeros, ones], dim=1),
    ]
    return torch.stack(rows, dim=1)


def square_pixel_intrinsics(intrinsics_norm: torch.Tensor, pixel_aspect: torch.Tensor, width: int,
                            height: int) -> torch.Tensor:
    """Normalised intrinsics with the same geometric-mean focal length ``sqrt(fx·fy)`` (pixels at ``width×height``)
    and the focal-length ratio ``fy / fx = pixel_aspect`` the image is known to have.

    A network that sees every image resized to one input size cannot see the source's aspect ratio, so its two focal
    outputs are only trustworthy together (their geometric mean); a camera with square pixels whose ``W_s×H_s`` image
    was resized (or cropped and resized) to ``width×height`` has ``fy / fx = (height / H_s) / (width / W_s)`` in the
    resized pixels. This is the K the node publishes (``square_pixels``, :mod:`ss3d_core.estimator.estimator`), and
    what training uses with ``model.square_pixels`` so that the losses see the K that ships.

    Args:
        intrinsics_norm: ``B×4`` float ``(fx/W, fy/H, (cx+0.5)/W, (cy+0.5)/H)``; fx and fy positive.
        pixel_aspect: ``B`` float, ``fy / fx`` in pixels of the ``width×height`` image (1 for an undistorted resize
            of a square-pixel image of the same aspect ratio), positive.
        width, height: the image size in pixels.

    Returns:
        ``B×4`` normalised intrinsics: principal point unchanged, ``fx_px = f / sqrt(a)``, ``fy_px = f sqrt(a)`` with
        ``f = sqrt(fx_px fy_px)``; differentiable in ``intrinsics_norm``.

    Raises:
        ValueError: shapes do not match (``B×4`` and ``B``).
    """
    if intrinsics_norm.ndim != 2 or intrinsics_norm.shape[1] != 4 or pixel_aspect.shape != intrinsics_norm.shape[:1]:
        raise ValueError(f"intrinsics_norm must be B×4 and pixel_aspect B, got {tuple(intrinsics_norm.shape)} and "
                         f"{tuple(pixel_aspect.shape)}")
    fx_n, fy_n, cx_n, cy_n = intrinsics_norm.unbind(dim=1)
    focal_px = torch.sqrt(fx_n * width * fy_n * height)
    root = torch.sqrt(pixel_aspect.to(intrinsics_norm.dtype))
    return torch.stack([focal_px / root / width, focal_px * root / height, cx_n, cy_n], dim=1)


def K_to_normalised(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalise a pixel ``K`` (3×3, pixels at ``width×height``) to ``(fx_n, fy_n, cx_n, cy_n)`` float64."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be 3×3, got {K.shape}")
    return np.array(
        [K[0, 0] / width, K[1, 1] / height, (K[0, 2] + 0.5) / width, (K[1, 2] + 0.5) / height]
    )


def scale_K(K: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Rescale a pixel ``K`` for an image resized (not cropped) from ``src_size`` to ``dst_size``.

    Args:
        K: 3×3 intrinsics in pixels at ``src_size``.
        src_size: ``(width, height)`` in pixels that ``K`` describes.
        dst_size: ``(width, height)`` in pixels after the resize (aspect may change).

    Returns:
        3×3 float64 ``K`` at ``dst_size``, following the pixel-centre convention of this module.
    """
    (w0, h0), (w1, h1) = src_size, dst_size
    sx, sy = w1 / w0, h1 / h0
    K = np.asarray(K, dtype=np.float64)
    out = K.copy()
    out[0, 0] = K[0, 0] * sx
    out[1, 1] = K[1, 1] * sy
    out[0, 1] = K[0, 1] * sx
    out[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return out


def pixel_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Homogeneous pixel-centre coordinates ``3×(H·W)`` (rows u, v, 1; pixels), row-major over the image."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones_like(u).reshape(-1)], dim=0)


def backproject(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Lift every pixel to a 3D point in the camera optical frame (REP 103: x right, y down, z forward).

    Args:
        depth: ``B×1×H×W`` float depth along +Z (metres or the network's relative unit).
        K: ``B×3×3`` intrinsics in pixels at ``W×H``.

    Returns:
        ``B×3×H×W`` points ``X = depth · K⁻¹ [u, v, 1]ᵀ`` in the same unit as ``depth``.
    """
    b, _, h, w = depth.shape
    rays = torch.linalg.inv(K) @ pixel_grid(h, w, depth.device, depth.dtype)  # B×3×HW
    return (rays * depth.reshape(b, 1, h * w)).reshape(b, 3, h, w)


def project(points: torch.Tensor, K: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Project camera-frame points to pixels.

    Args:
        points: ``B×3×H×W`` points in the optical frame.
        K: ``B×3×3`` intrinsics in pixels.
        eps: smallest depth treated as in front of the camera (same unit as ``points``).

    Returns:
        ``(uv, z)``: ``B×2×H×W`` pixel coordinates (pixel-centre convention) and ``B×1×H×W`` depth of each point.
        Points with ``z <= eps`` get ``uv`` computed with ``z`` clamped to ``eps``; callers mask them via ``z``.
    """
    b, _, h, w = points.shape
    cam = K @ points.reshape(b, 3, h * w)
    z = cam[:, 2:3]
    uv = cam[:, :2] / z.clamp(min=eps)
    return uv.reshape(b, 2, h, w), z.reshape(b, 1, h, w)
