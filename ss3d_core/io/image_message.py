"""Decoding ``sensor_msgs/Image``-like messages into RGB arrays, without ROS: the one decoder of camera images.

Used by the node (through :mod:`ss3d_ros.conversions`), by replay and by training's rosbag2 reader, so that a frame
reaches the network the same way whichever route it took. A message is any object with ``height``, ``width``,
``encoding``, ``is_bigendian``, ``step`` and ``data`` (an rclpy ``sensor_msgs.msg.Image`` or a rosbags one). Encoding
names are those of sensor_msgs/image_encodings.hpp; depth encodings follow REP 118.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
from rosbags.image import image_to_cvimage

from ss3d_core.io.stamps import NANOSECONDS_PER_SECOND, stamp_to_ns  # re-exported: the node and training use them

__all__ = [
    "DEPTH_16UC1_INVALID",
    "DEPTH_ENCODINGS",
    "ENCODING_LAYOUT",
    "MILLIMETRES_PER_METRE",
    "NANOSECONDS_PER_SECOND",
    "RGB_CHANNELS",
    "SUPPORTED_ENCODINGS",
    "ImageConversionError",
    "bytes_per_pixel",
    "compact_rows",
    "image_msg_to_depth_m",
    "image_msg_to_rgb8",
    "stamp_to_ns",
]

#: Colour/grey encodings accepted by ``image_msg_to_rgb8`` (names from sensor_msgs/image_encodings.hpp).
SUPPORTED_ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16")

#: Depth encodings of REP 118: float32 metres, or uint16 millimetres.
DEPTH_ENCODINGS: tuple[str, ...] = ("32FC1", "16UC1")

# Little-endian numpy dtype of one channel and channel count per encoding (sensor_msgs/image_encodings.hpp).
ENCODING_LAYOUT: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype("<u2"), 1),
    "32FC1": (np.dtype("<f4"), 1),
    "16UC1": (np.dtype("<u2"), 1),
}

# Number of channels of the RGB arrays this module exchanges with the core (GUIDE §3).
RGB_CHANNELS = 3

# REP 118: 16UC1 depth is in millimetres; 0 marks an invalid pixel.
MILLIMETRES_PER_METRE = 1000.0
DEPTH_16UC1_INVALID = 0


class ImageConversionError(ValueError):
    """An image message that cannot be decoded; ``reason`` says why (for diagnostics counters).

    ``reason`` is one of ``REASONS``:

    - ``'unsupported_encoding'``: the encoding is not one the called function accepts;
    - ``'empty'``: height or width is 0;
    - ``'step_mismatch'``: ``step`` is smaller than ``width * bytes_per_pixel``;
    - ``'size_mismatch'``: ``len(data) != height * step``.
    """

    REASONS: tuple[str, ...] = ("unsupported_encoding", "empty", "step_mismatch", "size_mismatch")

    def __init__(self, reason: str, message: str):
        """Store ``reason`` (one of ``REASONS``; ``ValueError`` otherwise) and the human-readable ``message``."""
        if reason not in self.REASONS:
            raise ValueError(f"unknown ImageConversionError reason {reason!r}; expected one of {self.REASONS}")
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __reduce__(self):
        """Pickle with both constructor arguments (the default would pass only the message)."""
        return (type(self), (self.reason, self.message))


def bytes_per_pixel(encoding: str) -> int:
    """Bytes per pixel of a known encoding (``ENCODING_LAYOUT``)."""
    dtype, channels = ENCODING_LAYOUT[encoding]
    return dtype.itemsize * channels


def data_as_uint8(data) -> np.ndarray:
    """1-D uint8 view of ``msg.data`` (bytes, bytearray, array.array, memoryview, ndarray) or a copy of a list."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:  # no buffer protocol (e.g. a list of ints)
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def compact_rows(msg, accepted: Sequence[str]) -> tuple[np.ndarray, int]:
    """Validate an Image-like ``msg`` and return its pixel bytes without row padding.

    Args:
        msg: object with ``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``.
        accepted: encodings the caller can decode.

    Returns:
        ``(rows, bytes_per_pixel)``: ``rows`` is a C-contiguous ``height×(width*bytes_per_pixel)`` uint8 array; it is
        a *view* of ``msg.data`` when there is no padding, a copy otherwise.

    Raises:
        ImageConversionError: ``unsupported_encoding``, ``empty``, ``step_mismatch`` or ``size_mismatch``.
    """
    encoding = msg.encoding
    if encoding not in accepted:
        raise ImageConversionError(
            "unsupported_encoding", f"encoding {encoding!r} is not supported here; expected one of {tuple(accepted)}"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError("empty", f"image is empty: {width}×{height} pixels")
    bpp = bytes_per_pixel(encoding)
    row_bytes = width * bpp
    if step < row_bytes:
        raise ImageConversionError(
            "step_mismatch", f"step {step} < width {width} × {bpp} bytes per pixel ({encoding}) = {row_bytes}"
        )
    data = data_as_uint8(msg.data)
    if data.size != height * step:
        raise ImageConversionError(
            "size_mismatch", f"len(data) = {data.size} != height {height} × step {step} = {height * step}"
        )
    rows = data.reshape(height, step)
    if step != row_bytes:
        rows = np.ascontiguousarray(rows[:, :row_bytes])
    return rows, bpp


def image_msg_to_rgb8(msg) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into ``H×W×3 uint8 RGB`` (C-contiguous, a copy, never a view of ``msg.data``).

    Args:
        msg: an rclpy ``sensor_msgs.msg.Image`` or any object with ``height``, ``width``, ``encoding``,
            ``is_bigendian``, ``step`` and ``data`` (bytes-like, ``array.array``, ndarray or list of ints), encoded
            as one of ``SUPPORTED_ENCODINGS``.

    Returns:
        ``height×width×3`` uint8 RGB. Row padding (``step > width * bytes_per_pixel``) is dropped. Grey encodings
        are replicated to three channels; ``mono16`` honours ``is_bigendian`` and is scaled over its full range
        as rosbags-image does: ``floor(value * 255 / 65535)`` (not a shift, so 65535 -> 255, 257 -> 1). Alpha is
        dropped.

    Raises:
        ImageConversionError: ``reason`` ``'unsupported_encoding'`` (not in ``SUPPORTED_ENCODINGS``), ``'empty'``
            (height or width 0), ``'step_mismatch'`` (``step < width * bytes_per_pixel``) or ``'size_mismatch'``
            (``len(data) != height * step``, the size REP/cv_bridge assume).
        RuntimeError: the colour library returned a wrong shape (a library bug; never seen for the supported set).

    The colour conversion is rosbags-image's (``image_to_cvimage``); rosbags-image ignores ``step``, so the rows are
    validated and unpadded here first and handed over as a compact message.
    """
    rows, bpp = compact_rows(msg, SUPPORTED_ENCODINGS)
    height, width = rows.shape[0], rows.shape[1] // bpp
    compact = SimpleNamespace(
        height=height,
        width=width,
        encoding=msg.encoding,
        is_bigendian=int(msg.is_bigendian),
        step=width * bpp,
        data=rows,
    )
    rgb = image_to_cvimage(compact, "rgb8")
    if rgb.shape != (height, width, RGB_CHANNELS):  # guard against a conversion the library skipped silently
        raise RuntimeError(f"{msg.encoding} -> rgb8 produced shape {rgb.shape}, expected {(height, width, 3)}")
    # rosbags-image returns its input unchanged for rgb8 (a view of msg.data): copy whenever memory may be shared.
    if np.may_share_memory(rgb, rows):
        rgb = rgb.copy()
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def image_msg_to_depth_m(msg) -> np.ndarray:
    """Decode a REP 118 depth ``sensor_msgs/Image`` (``32FC1`` or ``16UC1``) into metres.

    Args:
        msg: Image-like object as for ``image_msg_to_rgb8``; ``step`` (row padding) and ``is_bigendian`` honoured.

    Returns:
        ``H×W`` float32 metres along +Z of the optical frame, C-contiguous copy; NaN where invalid (``32FC1``:
        NaN, infinite or ``<= 0``; ``16UC1``: 0). ``16UC1`` values are divided by 1000 (millimetres -> metres).

    Raises:
        ImageConversionError: ``'unsupported_encoding'`` (not in ``DEPTH_ENCODINGS``), ``'empty'``,
            ``'step_mismatch'`` or ``'size_mismatch'`` as in ``image_msg_to_rgb8``.
    """
    rows, bpp = compact_rows(msg, DEPTH_ENCODINGS)
    height, width = rows.shape[0], rows.shape[1] // bpp
    dtype, _ = ENCODING_LAYOUT[msg.encoding]
    if int(msg.is_bigendian):
        dtype = dtype.newbyteorder(">")
    values = rows.view(dtype).reshape(height, width)
    if msg.encoding == "32FC1":
        depth = values.astype(np.float32)  # a native-endian copy
        with np.errstate(invalid="ignore"):
            depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
        return depth
    depth = values.astype(np.float32) / np.float32(MILLIMETRES_PER_METRE)
    depth[values == DEPTH_16UC1_INVALID] = np.nan
    return depth
