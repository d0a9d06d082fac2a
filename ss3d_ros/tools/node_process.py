"""Run the ``ss3d`` node as a separate OS process (demo, replay and integration tests use real DDS between
processes, exactly as on a robot)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# Seconds to wait after SIGINT for a clean lifecycle shutdown before escalating.
STOP_GRACE_S = 10.0


class NodeProcess:
    """``python -m ss3d_ros.node_main --ros-args ...`` with the *same* interpreter as the caller.

    The ROS pip wheels re-execute Python with their library path set; a child from another interpreter or venv
    would fail to import rclpy, so ``sys.executable`` is always used.

    Args:
        ros_args: arguments after ``--ros-args`` (``-p name:=value``, ``-r from:=to``, ``--params-file F``).
        log_path: file receiving the node's stdout and stderr.
        env: environment (default: the caller's).
    """

    def __init__(self, ros_args: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.command = [sys.executable, "-m", "ss3d_ros.node_main", "--ros-args", *ros_args]
        self.log_path = Path(log_path)
        self.env = dict(os.environ if env is None else env)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self) -> None:
        """Spawn the process (its output goes to :attr:`log_path`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)

    def alive(self) -> bool:
        """True while the process runs."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit code, or ``None`` while running / before start."""
        return None if self._proc is None else self._proc.poll()

    def log_tail(self, lines: int = 30) -> str:
        """Last ``lines`` lines of the node's log (for error messages)."""
        if not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int | None:
        """SIGINT (clean lifecycle shutdown), then SIGTERM/SIGKILL if it does not exit; returns the exit code."""
        if self._proc is None:
            return None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self._proc.poll() is not None:
                break
            self._proc.send_signal(sig)
            try:
                self._proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                continue
        if self._log is not None:
            self._log.close()
            self._log = None
        return self._proc.returncode

    def __enter__(self) -> NodeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
