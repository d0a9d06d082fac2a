"""Online self-calibration of a running node: key frames -> ``ss3d_calibrate`` in a niced child -> an adopted K.

The node offers every frame (:meth:`OnlineCalibration.offer`, its worker thread); one frame per
``1 / CALIBRATION_RATE_HZ`` of header stamps is kept as a key frame, reduced to COLMAP's working size and written as a
PNG to a scratch folder by a writer thread (about 16 ms per 960×540 frame, which would otherwise hold up every third
frame of a 30 Hz stream), until :data:`KEYFRAMES` are kept. Then ``ss3d_calibrate --frames`` (:mod:`.cli`) runs on
them in a child process at niceness :data:`CHILD_NICENESS` with one COLMAP thread and a time limit: it picks the
moving stretch and applies the same checks as the command (:mod:`.acceptance`), and writes a result only when it
passes them. :meth:`OnlineCalibration.poll` (the node's timer) then scales that K from the key frames' size to the
camera's, stores it in the cache file of this camera (:func:`cache_file`: keyed by the camera's frame id and
resolution) and adopts it. A refusal (too little motion, too little
registered) is logged with its reason and collecting starts again after :data:`RETRY_DELAY_S`. On the next start the
cache file is adopted at once. Without pycolmap nothing is collected (one message). Nothing here imports ROS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ss3d_core.calibration.calibrate import CALIBRATION_RATE_HZ, DEFAULT_TIMEOUT_S, MAX_FRAMES
from ss3d_core.calibration.camera_info_file import (
    CameraInfoFile,
    CameraInfoFileError,
    read_camera_info,
    write_camera_info,
)
from ss3d_core.camera import scale_K
from ss3d_core.io.bag_images import KEEP_AFTER_PERIOD_FRACTION
from ss3d_core.io.stamps import NANOSECONDS_PER_SECOND
from ss3d_core.sfm.runner import PNG_COMPRESSION, child_environment, colmap_available, working_size

__all__ = ["CHILD_NICENESS", "CHILD_THREADS", "KEYFRAMES", "RETRY_DELAY_S", "CalibrationState", "OnlineCalibration",
           "cache_file", "child_command", "start_child", "stop_child"]

# Key frames per attempt: what ss3d_calibrate gives COLMAP at most (calibrate.MAX_FRAMES, ten seconds at the
# calibration rate), so that the node's result rests on as much motion as the command's. Measured on
# kitti_odom_gray_51 (benchmarks/self_calibration.py, docs/calibration.md): 40 key frames +7.0 % fx, all 51 +4.3 %.
KEYFRAMES = MAX_FRAMES
# Niceness of the child (the largest, POSIX nice(2)): the node's inference keeps the CPU it needs.
CHILD_NICENESS = 19
# COLMAP threads of the child: one core's worth, the rest stays with the node.
CHILD_THREADS = 1
# Seconds to wait after a refusal before collecting again (a still robot would otherwise run COLMAP back to back).
RETRY_DELAY_S = 60.0
# Extra seconds the child gets beyond COLMAP's own limit (reading the key frames and the motion scan) before it is
# killed.
CHILD_GRACE_S = 120.0
# Sub-folder of the cache folder that holds the calibrations.
CACHE_SUBDIR = "calibration"
# The child's result (at the key frames' size) in the attempt's scratch folder.
RESULT_FILE = "result.yaml"


def cache_file(cache_root: str | Path, frame_id: str, width: int, height: int) -> Path:
    """The calibration file of one camera: ``<cache_root>/calibration/<frame_id>_<W>x<H>.yaml`` (characters other
    than letters, digits, ``_``, ``-`` and ``.`` in the frame id become ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", frame_id.strip("/")) or "camera"
    return Path(cache_root) / CACHE_SUBDIR / f"{safe}_{width}x{height}.yaml"


def _write_keyframe(rgb: np.ndarray, path: Path) -> None:
    """Reduce an ``H×W×3`` uint8 RGB frame to COLMAP's working size and write it as a PNG.

    Raises:
        OSError: the file could not be written.
    """
    small = cv2.resize(rgb, working_size(rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]):
        raise OSError(f"cv2.imwrite failed for {path}")


def child_command(frames: Path, output: Path, camera_name: str, summary: Path, timeout_s: float) -> list[str]:
    """The child's command line: ``ss3d_calibrate --frames`` (:mod:`.cli`) with one COLMAP thread, niced, writing
    ``output`` only when the result is accepted and ``summary`` (JSON, ``status`` ``ok`` / ``refused`` / ``failed``)
    either way."""
    return [sys.executable, "-m", "ss3d_core.calibration.cli", "--frames", str(frames), "--rate-hz",
            f"{CALIBRATION_RATE_HZ:g}", "--output", str(output), "--camera-name", camera_name, "--threads",
            str(CHILD_THREADS), "--nice", str(CHILD_NICENESS), "--timeout-s", f"{timeout_s:g}",
            "--summary-json", str(summary)]


def start_child(command: list[str], log_path: Path) -> subprocess.Popen:
    """Start the calibration child (:func:`child_command`) with this package importable, its output in ``log_path``.

    The child leads a process group of its own (``process_group=0``, setpgid(2)), so that :func:`stop_child` also
    stops the COLMAP process it starts in turn (:func:`ss3d_core.sfm.runner.reconstruct_frames`), which would
    otherwise run on after the child is killed. It stays in the node's session: with the kernel's autogroup
    scheduling (``/proc/sys/kernel/sched_autogroup_enabled``, on by default in desktop and many server kernels) a new
    session (setsid) is a scheduling group of its own that gets an equal share of the CPU whatever its niceness, and
    the niced child then took half of two cores from the node (ss3d_bench --calibration-child, docs/calibration.md).

    Raises:
        OSError: the command cannot be started or the log written.
    """
    with Path(log_path).open("w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_environment(),
                                process_group=0)


def stop_child(child: subprocess.Popen) -> None:
    """Kill a child started by :func:`start_child` and the processes it started (its process group), and reap it; a
    child that has already exited is only reaped."""
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # exited meanwhile, or not in a group of its own
            child.kill()
    child.wait()


@dataclass(frozen=True)
class CalibrationState:
    """What online calibration is doing, for ``/diagnostics``.

    Attributes:
        state: ``unavailable``, ``waiting`` (no frame yet), ``collecting``, ``running``, ``adopted`` or ``rejected``.
        detail: one line (the reason of a rejection, the source of an adopted K, the progress).
        keyframes: key frames kept for the current attempt.
        attempts: children started since the node started.
    """

    state: str
    detail: str
    keyframes: int
    attempts: int


class OnlineCalibration:
    """Key frames, the calibration child and the adopted calibration of one camera (see the module docstring).

    :meth:`offer` is called from the node's worker thread, :meth:`poll` and :meth:`close` from its executor; a lock
    guards the shared state.

    Args:
        cache_root: folder of the cache (the node's ``cache_dir``); calibrations go to ``cache_root/calibration``.
        keyframes: key frames per attempt.
        timeout_s: COLMAP's time limit in the child, seconds.
        retry_delay_s: wait after a refusal before collecting again, seconds.
    """

    def __init__(self, cache_root: str | Path, keyframes: int = KEYFRAMES, timeout_s: float = DEFAULT_TIMEOUT_S,
                 retry_delay_s: float = RETRY_DELAY_S):
        self.cache_root = Path(cache_root)
        self.keyframes = keyframes
        self.timeout_s = timeout_s
        self.retry_delay_s = retry_delay_s
        self._lock = threading.Lock()
        available, detail = colmap_available()
        self._state = "waiting" if available else "unavailable"
        self._detail = "" if available else f"keeping the learned K: {detail}"
        self._key: tuple[str, int, int] | None = None
        self._folder: Path | None = None
        self._kept = 0
        self._last_kept_ns: int | None = None
        self._child: subprocess.Popen | None = None
        self._child_started = 0.0
        self._retry_at = 0.0
        self._attempts = 0
        self._summary: Path | None = None
        self._announced = False  # the "no pycolmap" line was logged
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ss3d_keyframes")
        self._writes: list[Future] = []  # key frames of the current attempt handed to the writer
        self.adopted: CameraInfoFile | None = None

    @property
    def available(self) -> bool:
        """Whether pycolmap is installed (otherwise the node keeps its learned K)."""
        return self._state != "unavailable"

    def state(self) -> CalibrationState:
        """The current :class:`CalibrationState`."""
        with self._lock:
            return CalibrationState(self._state, self._detail, self._kept, self._attempts)

    def offer(self, rgb: np.ndarray, stamp_ns: int, frame_id: str) -> None:
        """Keep ``rgb`` (``H×W×3`` uint8) as a key frame when collecting and a key-frame period has passed since the
        last one (header stamps). The first frame fixes the camera (frame id, size); frames of another camera are
        ignored. A kept frame is reduced and written by the writer thread, which holds a reference to ``rgb``: the
        caller must not modify it afterwards."""
        with self._lock:
            key = (frame_id, rgb.shape[1], rgb.shape[0])
            if self._key is None:
                self._key = key
            if self._state != "collecting" or key != self._key or self._folder is None:
                return
            period_ns = KEEP_AFTER_PERIOD_FRACTION * NANOSECONDS_PER_SECOND / CALIBRATION_RATE_HZ
            if self._last_kept_ns is not None and 0 <= stamp_ns - self._last_kept_ns < period_ns:
                return
            if self._kept >= self.keyframes:
                return
            self._writes.append(self._writer.submit(_write_keyframe, rgb, self._folder / f"{self._kept:06d}.png"))
            self._kept += 1
            self._last_kept_ns = stamp_ns
            self._detail = f"{self._kept}/{self.keyframes} key frames"

    def poll(self, now: float | None = None) -> list[tuple[str, str]]:
        """Advance the state machine (the node calls it about once a second); returns ``(level, message)`` pairs to
        log, ``level`` one of ``info``, ``warning``.

        Steps: the first frame's camera is looked up in the cache (a file there is adopted at once); collecting
        starts; a full set of key frames starts the child; a finished child's result is adopted or its refusal
        logged; after a refusal collecting starts again once :attr:`retry_delay_s` has passed.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._state == "unavailable":
                if self._announced:
                    return []
                self._announced = True
                return [("warning", f"self_calibrate: {self._detail}")]
            if self._key is None or self._state == "adopted":
                return []
            if self._state == "waiting":
                return self._look_up_cache()
            if self._state == "collecting" and self._kept >= self.keyframes:
                return self._start_child(now)
            if self._state == "running":
                return self._check_child(now)
            if self._state == "rejected" and now >= self._retry_at:
                return self._collect()
            return []

    def close(self) -> None:
        """Stop a running child and the writer, and remove the key frames (the cache file stays)."""
        self._writer.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            if self._child is not None:
                stop_child(self._child)
            self._child = None
            self._drop_folder()

    # --- steps (called with the lock held) -----------------------------------------------------------------------
    def _cache_path(self) -> Path:
        frame_id, width, height = self._key
        return cache_file(self.cache_root, frame_id, width, height)

    def _look_up_cache(self) -> list[tuple[str, str]]:
        path = self._cache_path()
        if path.is_file():
            messages = self._adopt(path, "cached")
            if self._state == "adopted":
                return messages
            return messages + self._collect()
        return self._collect()

    def _collect(self) -> list[tuple[str, str]]:
        self._drop_folder()
        self._folder = Path(tempfile.mkdtemp(prefix="ss3d_selfcalib_"))
        self._kept, self._last_kept_ns, self._writes = 0, None, []
        self._state, self._detail = "collecting", f"0/{self.keyframes} key frames"
        frame_id, width, height = self._key
        return [("info", f"self_calibrate: collecting {self.keyframes} key frames of {frame_id!r} ({width}x{height}) "
                         f"at {CALIBRATION_RATE_HZ:g} Hz while the camera moves")]

    def _start_child(self, now: float) -> list[tuple[str, str]]:
        try:
            for write in self._writes:  # the last one was handed over a key-frame period ago at most
                write.result()
        except (OSError, cv2.error) as err:
            return self._reject(f"could not write the key frames: {err}", now)
        path = self._folder / RESULT_FILE
        self._summary = self._folder / "summary.json"
        frames = self._folder / "frames"
        frames.mkdir()
        for png in self._folder.glob("*.png"):
            png.rename(frames / png.name)
        command = child_command(frames, path, self._key[0], self._summary, self.timeout_s)
        self._child = start_child(command, self._folder / "child.log")
        self._child_started = now
        self._attempts += 1
        self._state = "running"
        self._detail = f"COLMAP on {self._kept} key frames (niceness {CHILD_NICENESS}, {CHILD_THREADS} thread)"
        return [("info", f"self_calibrate: running ss3d_calibrate on {self._kept} key frames in a child process "
                         f"(pid {self._child.pid}, niceness {CHILD_NICENESS}, time limit {self.timeout_s:g} s)")]

    def _check_child(self, now: float) -> list[tuple[str, str]]:
        code = self._child.poll()
        if code is None:
            if now - self._child_started <= self.timeout_s + CHILD_GRACE_S:
                return []
            stop_child(self._child)
            return self._reject(f"the child did not finish within {self.timeout_s + CHILD_GRACE_S:g} s", now)
        self._child = None
        try:
            summary = json.loads(self._summary.read_text())
        except (OSError, ValueError):
            tail = (self._folder / "child.log").read_text(errors="replace").strip().splitlines()[-1:]
            return self._reject(f"the child exited {code} without a summary: {' '.join(tail)}", now)
        if summary.get("status") != "ok":
            return self._reject(f"{summary.get('reason')}", now)
        try:
            self._store(read_camera_info(self._folder / RESULT_FILE))
        except CameraInfoFileError as err:
            return self._reject(f"unusable result: {err}", now)
        messages = self._adopt(self._cache_path(), f"calibrated in {summary.get('seconds', 0):.0f} s")
        if self._state != "adopted":
            self._state, self._retry_at = "rejected", now + self.retry_delay_s
        self._drop_folder()
        return messages

    def _store(self, result: CameraInfoFile) -> None:
        """Write the child's result, calibrated on key frames at COLMAP's working size, to the cache file at the
        camera's size (:func:`ss3d_core.camera.scale_K`; the radial term is on normalised coordinates, unchanged).

        Raises:
            CameraInfoFileError: the result is not at the key frames' size.
        """
        frame_id, width, height = self._key
        working = working_size(width, height)
        if (result.width, result.height) != working:
            raise CameraInfoFileError(f"the result is for {result.width}x{result.height}, the key frames were "
                                      f"{working[0]}x{working[1]}")
        write_camera_info(self._cache_path(), CameraInfoFile(
            K=scale_K(result.K, working, (width, height)), width=width, height=height, camera_name=frame_id,
            distortion_model=result.distortion_model, D=result.D))

    def _adopt(self, path: Path, source: str) -> list[tuple[str, str]]:
        frame_id, width, height = self._key
        try:
            calibration = read_camera_info(path)
        except CameraInfoFileError as err:
            self._detail = f"unusable calibration file: {err}"
            return [("warning", f"self_calibrate: {self._detail}")]
        if (calibration.width, calibration.height) != (width, height):
            self._detail = (f"{path} is for {calibration.width}x{calibration.height}, the camera sends "
                            f"{width}x{height}")
            return [("warning", f"self_calibrate: ignoring {self._detail}")]
        self.adopted = calibration
        K = calibration.K
        self._state = "adopted"
        self._detail = f"fx {K[0, 0]:.1f} fy {K[1, 1]:.1f} cx {K[0, 2]:.1f} cy {K[1, 2]:.1f} px ({source}, {path})"
        return [("info", f"self_calibrate: adopted K of {frame_id!r} at {width}x{height}: {self._detail}")]

    def _reject(self, reason: str, now: float) -> list[tuple[str, str]]:
        self._drop_folder()
        self._state, self._retry_at = "rejected", now + self.retry_delay_s
        self._detail = reason
        return [("warning", f"self_calibrate: rejected ({reason}); keeping the current K, collecting again in "
                            f"{self.retry_delay_s:g} s")]

    def _drop_folder(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
