"""Spin an rclpy executor in a background thread that always ends before the executor, its nodes and the context go.

``threading.Thread(target=executor.spin)`` followed by ``executor.shutdown()`` from another thread is racy in rclpy
(ros2/rclpy#968): ``shutdown()`` destroys the executor's wake-up guard condition while ``spin()`` may be building
its next wait set, and that wait, with no timeout, can then block forever. A daemon thread still inside rclpy when
the interpreter exits keeps its node and DDS participant alive into the C++ static destructors, where a joinable
thread aborts the process: "terminate called without an active exception" (ros2/rclpy#1484), the message of the
abort ``ss3d_bench`` showed once at exit. Here the thread waits at most :data:`SPIN_POLL_S` at a time and checks a
stop flag, so :meth:`BackgroundSpinner.stop` joins it first and only then shuts the executor down.
"""

from __future__ import annotations

import threading

from rclpy.executors import Executor, ExternalShutdownException

# Longest single wait of the spin thread (seconds): how long stop() may take to join it.
SPIN_POLL_S = 0.05


class BackgroundSpinner:
    """Runs ``executor.spin_once`` in a thread named ``name`` between :meth:`start` and :meth:`stop`.

    Args:
        executor: the executor (its nodes added by the caller).
        name: the thread's name.
    """

    def __init__(self, executor: Executor, name: str = "ss3d-spin"):
        self.executor = executor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name)

    def start(self) -> None:
        """Start spinning."""
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.executor.spin_once(timeout_sec=SPIN_POLL_S)
        except ExternalShutdownException:
            return  # the context was shut down (SIGINT): nothing left to spin

    def stop(self) -> None:
        """Join the spin thread (within one callback plus :data:`SPIN_POLL_S`), then shut the executor down; safe to
        call twice and before :meth:`start`."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.executor.shutdown()

    def __enter__(self) -> BackgroundSpinner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
