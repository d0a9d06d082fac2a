"""Run one COLMAP reconstruction in a child process with a timeout (Schönberger & Frahm 2016, through pycolmap).

pycolmap is imported only in the child (:mod:`ss3d_core.sfm.child`), so a missing package, a crash inside the C++
library or a run that hangs becomes a :class:`~ss3d_core.sfm.reconstruction.ReconstructionError` with a one-line
reason for that run, never the end of the caller (the training corpus, the evaluator). Frames go to the child as PNG
files at the working size (longest side at most :data:`~ss3d_core.sfm.settings.WORKING_MAX_SIDE_PX`, never enlarged)
and results come back as ``.npy`` + JSON files (never pickles); intrinsics and point coordinates are then scaled back
to the frames' source size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from ss3d_core.camera import scale_K
from ss3d_core.sfm.child import FAILURE_FILE
from ss3d_core.sfm.reconstruction import ReconstructionError, SfmReconstruction
from ss3d_core.sfm.settings import MIN_FRAMES, WORKING_MAX_SIDE_PX

__all__ = ["DEFAULT_TIMEOUT_S", "child_environment", "colmap_available", "working_size", "reconstruct_frames"]

# Wall-clock limit of one reconstruction, seconds; a run past it is killed and reported as a failure. Measured on the
# web clips with one COLMAP thread per run while other jobs shared the 2 cores (docs/sfm_teacher.md): the slowest clip
# (329 frames) took 1,783 s, and did not finish within 900 s nor, on a busier hour, within 1,800 s; twice its time
# leaves room for a loaded machine. A longer log needs --timeout-s.
DEFAULT_TIMEOUT_S = 3600.0
# Lines of the child's log quoted in the reason of a crash.
LOG_TAIL_LINES = 3
# PNG compression level of the frames handed to COLMAP (0-9): lossless either way, 1 writes fastest.
PNG_COMPRESSION = 1
# The folder that holds the ss3d_core package: put first on the child's import path so that it runs this code even
# when another checkout is installed in the environment.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def colmap_available() -> tuple[bool, str]:
    """``(True, version)`` when pycolmap is installed, else ``(False, reason)``; imports nothing."""
    try:
        spec = importlib.util.find_spec("pycolmap")
    except (ImportError, ValueError):  # a broken or blocked install
        spec = None
    if spec is None:
        return False, "pycolmap is not installed (pip install pycolmap, pinned in requirements.txt)"
    try:
        from importlib.metadata import version

        return True, version("pycolmap")
    except Exception:  # metadata missing for an odd install: still usable
        return True, "unknown"


def child_environment() -> dict[str, str]:
    """The environment of a child process that runs a module of this package: this one's, with the package's root
    first on ``PYTHONPATH`` (a source checkout imports as an installed package does)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT),
                                                                      os.environ.get("PYTHONPATH")]))}


def working_size(width: int, height: int, max_side_px: int = WORKING_MAX_SIDE_PX) -> tuple[int, int]:
    """``(width, height)`` in pixels that COLMAP sees: longest side at most ``max_side_px``, aspect kept, never
    enlarged."""
    scale = min(1.0, max_side_px / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def reconstruct_frames(
    frames: Iterable[np.ndarray],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    num_threads: int = -1,
    max_side_px: int = WORKING_MAX_SIDE_PX,
) -> SfmReconstruction:
    """Reconstruct one run of frames with one shared camera (settings: :mod:`ss3d_core.sfm.settings`).

    Args:
        frames: ``H×W×3`` uint8 RGB frames of one size, in time order (consumed once; only one is held in memory).
        timeout_s: wall-clock limit of the COLMAP child process, seconds.
        num_threads: CPU threads of every COLMAP stage (``-1``: all cores).
        max_side_px: longest side of the frames COLMAP sees, pixels.

    Returns:
        :class:`SfmReconstruction` with ``K`` and ``points_uvz``'s ``(u, v)`` in pixels at the source size ``W×H``
        (pixel centres at integer coordinates) and ``stats["seconds"]`` the wall-clock time of the whole call.

    Raises:
        ReconstructionError: ``too_few_frames`` (fewer than :data:`~ss3d_core.sfm.settings.MIN_FRAMES`),
            ``unavailable`` (no pycolmap), ``no_model``, ``timeout`` or ``crash`` (the child exited abnormally; the
            reason quotes the end of its log).
        ValueError: frames of different sizes, or not ``H×W×3``.
    """
    start = time.perf_counter()
    available, detail = colmap_available()
    with tempfile.TemporaryDirectory(prefix="ss3d_sfm_") as tmp:
        tmp_path = Path(tmp)
        images, work, out = tmp_path / "images", tmp_path / "work", tmp_path / "out"
        for folder in (images, work, out):
            folder.mkdir()
        source, n = _write_frames(frames, images, max_side_px)
        if n < MIN_FRAMES:
            raise ReconstructionError(f"{n} frames: fewer than {MIN_FRAMES}", "too_few_frames")
        if not available:
            raise ReconstructionError(detail, "unavailable")
        _run_child(images, work, out, timeout_s, num_threads)
        if (out / FAILURE_FILE).is_file():
            failure = json.loads((out / FAILURE_FILE).read_text())
            raise ReconstructionError(failure["reason"], failure["kind"])
        reconstruction = SfmReconstruction.read(out)
    return _to_source_size(reconstruction, *source).with_stats(seconds=round(time.perf_counter() - start, 2))


def _write_frames(frames: Iterable[np.ndarray], folder: Path, max_side_px: int) -> tuple[tuple[int, int], int]:
    """Write the frames as ``000000.png`` ... at the working size; returns ``((W, H) of the source, count)``."""
    size, n = (0, 0), 0
    for n, rgb in enumerate(frames, 1):
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"frame {n - 1}: expected H×W×3 RGB, got shape {rgb.shape}")
        if n == 1:
            size = (rgb.shape[1], rgb.shape[0])
        elif (rgb.shape[1], rgb.shape[0]) != size:
            raise ValueError(f"frame {n - 1} is {rgb.shape[1]}×{rgb.shape[0]}, the first was {size[0]}×{size[1]}")
        small = cv2.resize(rgb, working_size(*size, max_side_px), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"{n - 1:06d}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    return size, n


def _run_child(images: Path, work: Path, out: Path, timeout_s: float, num_threads: int) -> None:
    """Run :mod:`ss3d_core.sfm.child`; its log goes to ``work/colmap.log``.

    Raises:
        ReconstructionError: ``timeout`` or ``crash``.
    """
    command = [sys.executable, "-m", "ss3d_core.sfm.child", "--images", str(images), "--work", str(work),
               "--out", str(out), "--threads", str(num_threads)]
    env = child_environment()
    log_path = work / "colmap.log"
    with log_path.open("w") as log:
        try:
            proc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, env=env,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ReconstructionError(f"COLMAP did not finish within {timeout_s:g} s", "timeout") from None
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-LOG_TAIL_LINES:]
        raise ReconstructionError(f"COLMAP child exited {proc.returncode}: {' | '.join(tail)}", "crash")


def _to_source_size(reconstruction: SfmReconstruction, width: int, height: int) -> SfmReconstruction:
    """``K`` and the points' pixel coordinates rescaled from the working size to ``width×height``."""
    working = (reconstruction.width, reconstruction.height)
    sx, sy = width / working[0], height / working[1]
    uvz = reconstruction.points_uvz.astype(np.float64)
    uvz[:, 0] = (uvz[:, 0] + 0.5) * sx - 0.5  # pixel centres at integers (ss3d_core.camera)
    uvz[:, 1] = (uvz[:, 1] + 0.5) * sy - 0.5
    return replace(reconstruction, K=scale_K(reconstruction.K, working, (width, height)), width=width,
                   height=height, points_uvz=uvz.astype(np.float32))
