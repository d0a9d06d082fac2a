"""Per-frame hand-off times inside the node and the interpreter's garbage-collector pauses (``trace_file`` parameter).

Where a frame's time goes, frame by frame: the subscription callback's entry (``received``), the inference worker
taking the frame (``picked_up``), the image converted (``converted``), the estimator called (``estimating``), its
resize/network/post-processing durations, the depth message handed to its publisher (``depth_publish``) and
every output sent (``published``). A frame replaced in the single-slot mailbox before the worker took it has
``outcome`` ``stale`` and only ``received``; a frame dropped by a check has that check's reason.

Times are ``time.monotonic()`` seconds: CLOCK_MONOTONIC on Linux, one clock for every process on the host, so a
client that published the frame (``ss3d_bench``) subtracts its own publish time to get DDS delivery plus the
executor's hand-over, and its own arrival time for the way back. No ROS types here.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

# Frames kept (the newest): 20 minutes of a 30 Hz camera, about 10 MB.
TRACE_CAPACITY_FRAMES = 36_000
# Garbage-collector pauses kept (the newest); a 30 Hz stream triggers a few young collections per second.
TRACE_CAPACITY_GC_PAUSES = 36_000
# The time stamps of a frame record, in the order they happen (seconds, ``time.monotonic()``).
HANDOFFS = ("received", "picked_up", "converted", "estimating", "depth_publish", "published")
# The durations a frame record carries (milliseconds): the estimator's three, and the CPU time the worker thread
# spent on the frame from pick-up to the last output (``time.thread_time()``).
DURATIONS = ("preprocess_ms", "inference_ms", "postprocess_ms", "worker_cpu_ms")


class FrameTrace:
    """Thread-safe bounded record of frames and GC pauses, written as one JSON file.

    Args:
        capacity: frames kept (the oldest are forgotten first).
    """

    def __init__(self, capacity: int = TRACE_CAPACITY_FRAMES):
        self._lock = threading.Lock()
        self._frames: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._gc_pauses: deque[tuple[float, float, int, int]] = deque(maxlen=TRACE_CAPACITY_GC_PAUSES)
        self._gc_started: dict[int, float] = {}  # thread id -> start of the collection running there
        self._gc_hooked = False

    def frame(self, stamp_ns: int, outcome: str, times: dict[str, float], durations_ms: dict[str, float]) -> None:
        """Record one frame.

        Args:
            stamp_ns: the image's header stamp, nanoseconds.
            outcome: ``published``, ``stale`` or a drop reason.
            times: ``{hand-off: monotonic seconds}`` with keys from :data:`HANDOFFS` (those the frame reached).
            durations_ms: ``{name: milliseconds}`` with keys from :data:`DURATIONS`.

        Raises:
            KeyError: a key outside :data:`HANDOFFS` or :data:`DURATIONS`.
        """
        unknown = (set(times) - set(HANDOFFS)) | (set(durations_ms) - set(DURATIONS))
        if unknown:
            raise KeyError(f"unknown trace fields {sorted(unknown)}")
        with self._lock:
            self._frames.append({"stamp_ns": int(stamp_ns), "outcome": outcome, **times, **durations_ms})

    # --- garbage collector ----------------------------------------------------------------------------------------
    def start_gc_timing(self) -> None:
        """Record every garbage collection of this interpreter (start, duration, generation, objects collected)."""
        if not self._gc_hooked:
            gc.callbacks.append(self._on_gc)
            self._gc_hooked = True

    def stop_gc_timing(self) -> None:
        """Stop recording collections (idempotent)."""
        if self._gc_hooked:
            gc.callbacks.remove(self._on_gc)
            self._gc_hooked = False

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        thread = threading.get_ident()
        if phase == "start":
            self._gc_started[thread] = now
            return
        started = self._gc_started.pop(thread, None)
        if started is not None:
            self._gc_pauses.append((started, now - started, info["generation"], info["collected"]))

    # --- output ---------------------------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """``{"clock", "frames": [...], "gc_pauses": [{"start", "duration_ms", "generation", "collected"}]}``."""
        with self._lock:
            frames = list(self._frames)
        pauses = [{"start": start, "duration_ms": duration * 1e3, "generation": generation, "collected": collected}
                  for start, duration, generation, collected in list(self._gc_pauses)]
        return {"clock": "time.monotonic() seconds (CLOCK_MONOTONIC, shared by the processes of one host)",
                "frames": frames, "gc_pauses": pauses}

    def write(self, path: str | Path) -> Path:
        """Write :meth:`as_dict` as JSON to ``path`` (parent folders created); returns the path.

        Raises:
            OSError: the file cannot be written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict()) + "\n")
        return path
