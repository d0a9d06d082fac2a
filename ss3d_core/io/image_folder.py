"""Ordered image folders (one clip = a folder of frames in name order)."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def _natural_key(path: Path) -> list[object]:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", path.name)]


def list_frames(folder: str | Path) -> list[Path]:
    """Image files of ``folder`` in natural name order (``2.jpg`` before ``10.jpg``).

    Raises:
        FileNotFoundError: if the folder does not exist or holds no image.
    """
    folder = Path(folder)
    frames = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not frames:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return frames


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as ``H×W×3`` uint8 RGB (grey images are replicated to 3 channels).

    Raises:
        ValueError: if OpenCV cannot decode the file.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot decode image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
