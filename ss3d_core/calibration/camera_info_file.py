"""Camera calibration files in the ROS ``camera_calibration_parsers`` YAML format, and ``camera_info_url`` addresses.

The format is the one the ``camera_calibration`` checkerboard tool writes and camera drivers load through
``camera_info_manager`` (``camera_info_url``)::

    image_width: 1226
    image_height: 370
    camera_name: kitti_cam0
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
    projection_matrix: {rows: 3, cols: 4, data: [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0]}

Pixel coordinates follow ROS ``CameraInfo`` (the centre of the top-left pixel at ``(0, 0)``), the convention of
:mod:`ss3d_core.camera`. Addresses follow ``camera_info_manager``: ``file:///absolute/path.yaml`` and
``package://<package>/<path in its share folder>``; ``${NAME}`` in an address stands for the camera name. Read and
written with PyYAML.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

__all__ = ["CameraInfoFile", "CameraInfoFileError", "read_camera_info", "resolve_camera_info_url",
           "write_camera_info"]

# Coefficients per distortion model (sensor_msgs/distortion_models.hpp; ROS CameraInfo.msg).
DISTORTION_COEFFICIENTS = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}
# camera_info_manager's URL schemes (camera_info_manager.cpp, parseURL).
FILE_SCHEME = "file://"
PACKAGE_SCHEME = "package://"
# camera_info_manager substitutes the camera name for this variable in an address.
NAME_VARIABLE = "${NAME}"


class CameraInfoFileError(ValueError):
    """A calibration file or address that cannot be used; the message names the file and the cause (one line)."""


@dataclass(frozen=True)
class CameraInfoFile:
    """One camera's calibration as stored in a ``camera_calibration_parsers`` YAML file (monocular).

    Attributes:
        K: ``3×3`` float64 intrinsics in pixels at ``width×height`` (ROS pixel-centre convention).
        width, height: image size in pixels the calibration is for.
        camera_name: the camera's name (``camera_info_manager`` checks it against the driver's).
        distortion_model: ``plumb_bob``, ``rational_polynomial``, ``equidistant`` or another name.
        D: float64 distortion coefficients (``plumb_bob``: ``k1, k2, p1, p2, k3``).
        R: ``3×3`` float64 rectification (identity for a monocular camera).
        P: ``3×4`` float64 projection (``[K | 0]`` for a monocular camera).
    """

    K: np.ndarray
    width: int
    height: int
    camera_name: str
    distortion_model: str = "plumb_bob"
    D: np.ndarray = field(default_factory=lambda: np.zeros(DISTORTION_COEFFICIENTS["plumb_bob"]))
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    P: np.ndarray | None = None

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        if (K.shape != (3, 3) or not np.all(np.isfinite(K)) or not (K[0, 0] > 0 and K[1, 1] > 0)
                or not np.allclose(K[2], (0.0, 0.0, 1.0))):
            raise CameraInfoFileError(f"camera_matrix must be 3x3, finite, fx and fy > 0, last row 0 0 1; got "
                                      f"{K.tolist()}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise CameraInfoFileError(f"image size must be positive, got {self.width}x{self.height}")
        D = np.asarray(self.D, dtype=np.float64).reshape(-1)
        expected = DISTORTION_COEFFICIENTS.get(self.distortion_model)
        if not np.all(np.isfinite(D)) or (expected is not None and D.size not in (0, expected)):
            raise CameraInfoFileError(f"distortion_model {self.distortion_model!r} takes {expected} finite "
                                      f"coefficients, got {D.tolist()}")
        P = np.hstack([K, np.zeros((3, 1))]) if self.P is None else np.asarray(self.P, dtype=np.float64)
        R = np.asarray(self.R, dtype=np.float64)
        if R.shape != (3, 3) or P.shape != (3, 4):
            raise CameraInfoFileError(f"rectification_matrix must be 3x3 and projection_matrix 3x4, got {R.shape} "
                                      f"and {P.shape}")
        for name, value in (("K", K), ("D", D), ("R", R), ("P", P), ("width", int(self.width)),
                            ("height", int(self.height))):
            object.__setattr__(self, name, value)

    def as_yaml(self) -> dict:
        """The ``camera_calibration_parsers`` mapping (plain Python types, ready for ``yaml.safe_dump``)."""
        def matrix(a: np.ndarray) -> dict:
            a = np.atleast_2d(a)
            return {"rows": int(a.shape[0]), "cols": int(a.shape[1]), "data": [float(x) for x in a.reshape(-1)]}

        return {"image_width": self.width, "image_height": self.height, "camera_name": self.camera_name,
                "camera_matrix": matrix(self.K), "distortion_model": self.distortion_model,
                "distortion_coefficients": matrix(self.D), "rectification_matrix": matrix(self.R),
                "projection_matrix": matrix(self.P)}


def write_camera_info(path: str | Path, calibration: CameraInfoFile) -> Path:
    """Write ``calibration`` to ``path`` as ``camera_calibration_parsers`` YAML (folders created; written to a
    temporary file beside it, then renamed, so a reader never sees half a file). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(yaml.safe_dump(calibration.as_yaml(), sort_keys=False, default_flow_style=None))
    os.replace(tmp, path)
    return path


def _matrix(doc: dict, key: str, shape: tuple[int, int], path: Path) -> np.ndarray:
    entry = doc.get(key)
    if not isinstance(entry, dict) or "data" not in entry:
        raise CameraInfoFileError(f"{path}: {key} missing or not a {{rows, cols, data}} mapping")
    data = np.asarray(entry["data"], dtype=np.float64).reshape(-1)
    rows, cols = int(entry.get("rows", shape[0])), int(entry.get("cols", shape[1]))
    if data.size != rows * cols or (shape[1] > 0 and (rows, cols) != shape):
        raise CameraInfoFileError(f"{path}: {key} must be {shape[0]}x{shape[1]}, got {rows}x{cols} with "
                                  f"{data.size} values")
    return data.reshape(rows, cols) if shape[1] > 0 else data


def read_camera_info(path: str | Path) -> CameraInfoFile:
    """Read a ``camera_calibration_parsers`` YAML file (see the module docstring).

    Raises:
        CameraInfoFileError: the file is missing, not YAML, lacks a field, or holds an invalid calibration (the
            message names the file and the field).
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise CameraInfoFileError(f"cannot read camera calibration {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise CameraInfoFileError(f"{path} is not YAML: {' '.join(str(err).split())}") from err
    if not isinstance(doc, dict):
        raise CameraInfoFileError(f"{path}: not a camera_calibration_parsers file (no mapping at the top)")
    try:
        width, height = int(doc["image_width"]), int(doc["image_height"])
        model = str(doc.get("distortion_model", "plumb_bob"))
        return CameraInfoFile(
            K=_matrix(doc, "camera_matrix", (3, 3), path), width=width, height=height,
            camera_name=str(doc.get("camera_name", "")), distortion_model=model,
            D=_matrix(doc, "distortion_coefficients", (1, 0), path) if "distortion_coefficients" in doc
            else np.zeros(0),
            R=_matrix(doc, "rectification_matrix", (3, 3), path) if "rectification_matrix" in doc else np.eye(3),
            P=_matrix(doc, "projection_matrix", (3, 4), path) if "projection_matrix" in doc else None)
    except KeyError as err:
        raise CameraInfoFileError(f"{path}: missing field {err.args[0]}") from None
    except CameraInfoFileError as err:
        if str(path) in str(err):
            raise
        raise CameraInfoFileError(f"{path}: {err}") from None
    except (TypeError, ValueError) as err:  # a value that is not a number
        raise CameraInfoFileError(f"{path}: {err}") from err


def resolve_camera_info_url(url: str, camera_name: str = "") -> Path:
    """The file a ``camera_info_manager`` address points to.

    Args:
        url: ``file:///absolute/path.yaml`` or ``package://<package>/<relative path>`` (``${NAME}`` replaced by
            ``camera_name``).
        camera_name: substituted for ``${NAME}``.

    Returns:
        The absolute path (not checked for existence: :func:`read_camera_info` says when it is missing).

    Raises:
        CameraInfoFileError: another scheme (a plain path included, as camera_info_manager refuses it), a relative
            ``file://`` path, or a package that is not installed.
    """
    url = url.replace(NAME_VARIABLE, camera_name)
    if url.startswith(FILE_SCHEME):
        path = Path(url[len(FILE_SCHEME):])
        if not path.is_absolute():
            raise CameraInfoFileError(f"camera_info_url {url!r}: a file:// address needs an absolute path "
                                      "(file:///home/me/camera.yaml)")
        return path
    if url.startswith(PACKAGE_SCHEME):
        package, _, relative = url[len(PACKAGE_SCHEME):].partition("/")
        try:
            from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        except ImportError:
            raise CameraInfoFileError(f"camera_info_url {url!r}: package:// needs ament_index_python "
                                      "(a ROS 2 install)") from None
        try:
            return Path(get_package_share_directory(package)) / relative
        except (PackageNotFoundError, OSError) as err:  # OSError: no AMENT_PREFIX_PATH (ROS not sourced)
            raise CameraInfoFileError(f"camera_info_url {url!r}: package {package!r} is not installed "
                                      f"({' '.join(str(err).split())})") from None
    raise CameraInfoFileError(f"camera_info_url {url!r} is not a file:// or package:// address "
                              "(camera_info_manager's forms; write file:///absolute/path.yaml)")
