"""Run work off the subscription callback, on the newest frame only.

The subscription callback only deposits a frame; a worker thread processes the latest one. When the model is
slower than the camera, superseded frames are dropped (and counted) instead of queueing up latency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LatestFrameWorker:
    """Single-slot mailbox + worker thread.

    Args:
        process: called with each item in the worker thread; exceptions are passed to ``on_error``.
        on_superseded: called (in the depositing thread) when an unprocessed item is replaced.
        on_error: called with ``(item, exception)`` when ``process`` raises; the worker keeps running.
    """

    def __init__(
        self,
        process: Callable[[Any], None],
        on_superseded: Callable[[Any], None],
        on_error: Callable[[Any, BaseException], None],
    ):
        self._process = process
        self._on_superseded = on_superseded
        self._on_error = on_error
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._cond:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._loop, name="ss3d-inference", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the item in progress; a pending item is discarded."""
        with self._cond:
            self._running = False
            self._has_item = False
            self._item = None
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._thread = None

    def submit(self, item: Any) -> None:
        """Deposit ``item``, replacing (and reporting) any item not yet picked up."""
        with self._cond:
            if self._has_item:
                self._on_superseded(self._item)
            self._item, self._has_item = item, True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._has_item:
                    self._cond.wait()
                if not self._running:
                    return
                item, self._item, self._has_item = self._item, None, False
            try:
                self._process(item)
            except Exception as err:  # noqa: BLE001 - a bad frame must never kill the worker
                self._on_error(item, err)
