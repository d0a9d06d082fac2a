"""The node's self-calibration child running beside a benchmarked node (issue 35: real time while the child runs).

The child is the one the node starts (``self_calibrate``): the command of
:func:`ss3d_core.calibration.online.child_command` (``ss3d_calibrate --frames``, niceness
:data:`~ss3d_core.calibration.online.CHILD_NICENESS`, :data:`~ss3d_core.calibration.online.CHILD_THREADS` COLMAP
thread, COLMAP's time limit), started and stopped by the node's own :func:`~ss3d_core.calibration.online.start_child`
and :func:`~ss3d_core.calibration.online.stop_child`. Here it runs on a folder of key frames given by the user (the
node writes its own at COLMAP's working size; ``ss3d_calibrate --frames`` reduces larger ones to that size itself).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ss3d_core.calibration.calibrate import DEFAULT_TIMEOUT_S
from ss3d_core.calibration.online import child_command, start_child, stop_child
from ss3d_core.io.image_folder import list_frames
from ss3d_core.sfm.runner import colmap_available

__all__ = ["BackgroundCalibration", "check_calibration_child"]

# Lines of the child's log quoted when it ended before the node run did.
LOG_TAIL_LINES = 3


def check_calibration_child(frames_dir: Path) -> str | None:
    """``None`` when the child can run on ``frames_dir``, else the reason in one line (no pycolmap; no images)."""
    available, detail = colmap_available()
    if not available:
        return f"--calibration-child needs pycolmap: {detail}"
    try:
        list_frames(frames_dir)
    except OSError as err:  # FileNotFoundError, NotADirectoryError: a missing folder or one without images
        return f"--calibration-child: {err}"
    return None


class BackgroundCalibration:
    """One calibration child for the length of one node run: :meth:`start` right before the run, :meth:`alive` when
    it starts, :meth:`stop` after it.

    Args:
        frames_dir: key frames (a folder of images in time order, 10 Hz as the node keeps them).
        work_dir: the child's log, summary and result (``calibration_child.log``, ``summary.json``, ``camera.yaml``).
        timeout_s: COLMAP's time limit in the child, seconds (the node's default).
    """

    def __init__(self, frames_dir: Path, work_dir: Path, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.frames_dir = Path(frames_dir)
        self.work_dir = Path(work_dir)
        self.timeout_s = timeout_s
        self._child: subprocess.Popen | None = None
        self._alive_at_start: bool | None = None

    @property
    def log_path(self) -> Path:
        """The child's output."""
        return self.work_dir / "calibration_child.log"

    def start(self) -> None:
        """Start the child (the node's command line, niced, one thread).

        Raises:
            OSError: the child cannot be started.
        """
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "summary.json").unlink(missing_ok=True)
        command = child_command(self.frames_dir, self.work_dir / "camera.yaml", "ss3d_bench",
                                self.work_dir / "summary.json", self.timeout_s)
        self._child = start_child(command, self.log_path)

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self._child is not None and self._child.poll() is None

    def mark_run_start(self) -> bool:
        """Record (and return) whether the child runs as the node run starts."""
        self._alive_at_start = self.alive()
        return self._alive_at_start

    def stop(self) -> dict[str, Any]:
        """Record whether the child still ran as the node run ended, then kill it and the COLMAP process it started.

        Returns:
            ``{"pid", "alive_at_start", "alive_at_end", "ended_early", "exit_code", "summary", "log_tail"}``:
            ``ended_early`` when it was not running at both ends of the run (the run then measured the node only
            partly beside it); ``exit_code``, ``summary`` (its ``--summary-json``) and ``log_tail`` only then.
        """
        if self._child is None:
            raise RuntimeError("stop() before start()")
        alive_at_end = self.alive()
        exit_code = None if alive_at_end else self._child.returncode
        stop_child(self._child)
        record: dict[str, Any] = {"pid": self._child.pid, "alive_at_start": self._alive_at_start,
                                  "alive_at_end": alive_at_end,
                                  "ended_early": not (alive_at_end and self._alive_at_start is not False),
                                  "exit_code": exit_code, "summary": None, "log_tail": None}
        if record["ended_early"]:
            summary = self.work_dir / "summary.json"
            try:
                record["summary"] = json.loads(summary.read_text())
            except (OSError, ValueError):
                pass
            lines = self.log_path.read_text(errors="replace").strip().splitlines() if self.log_path.is_file() else []
            record["log_tail"] = " | ".join(lines[-LOG_TAIL_LINES:])
        self._child = None
        return record
