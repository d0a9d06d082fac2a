"""Thread-safe counters, rates and latency percentiles of the node's frame stream (no ROS types)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np

# Window over which rates and latency percentiles are computed.
STATS_WINDOW_S = 5.0
LATENCY_SAMPLES = 200
# Where a frame's time goes inside the node, in order: waiting for the worker, message -> RGB, resize and layout,
# the network, estimator maths after it, building and publishing the outputs.
STAGES = ("waiting", "conversion", "preprocessing", "inference", "postprocessing", "publishing")


class RateMeter:
    """Events per second over the last ``window_s`` seconds (monotonic clock)."""

    def __init__(self, window_s: float = STATS_WINDOW_S):
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        """Record one event."""
        self._times.append(time.monotonic() if now is None else now)

    def rate_hz(self, now: float | None = None) -> float:
        """Events per second in the window (0 with fewer than 2 events)."""
        now = time.monotonic() if now is None else now
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = max(self._times[-1] - self._times[0], 1e-9)
        return (len(self._times) - 1) / span


class StreamStats:
    """Everything /diagnostics reports about the stream: input/output rates, latency, drops by reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.input_rate = RateMeter()
        self.output_rate = RateMeter()
        self._latency_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._stage_ms: dict[str, deque[float]] = {name: deque(maxlen=LATENCY_SAMPLES) for name in STAGES}
        self.drops: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.frames_in = 0
        self.frames_out = 0

    def received(self) -> None:
        """An input image arrived."""
        with self._lock:
            self.frames_in += 1
            self.input_rate.tick()

    def published(self, latency_ms: float, stages_ms: dict[str, float]) -> None:
        """Outputs of one frame were published ``latency_ms`` after its arrival; ``stages_ms`` splits that time by
        :data:`STAGES` (milliseconds; missing stages are not recorded).

        Raises:
            KeyError: a stage name outside :data:`STAGES`.
        """
        with self._lock:
            self.frames_out += 1
            self.output_rate.tick()
            self._latency_ms.append(latency_ms)
            for name, value in stages_ms.items():
                self._stage_ms[name].append(value)

    def dropped(self, reason: str) -> int:
        """Count a dropped frame; returns the running count for ``reason``."""
        with self._lock:
            self.drops[reason] += 1
            return self.drops[reason]

    def event(self, name: str) -> None:
        """Count a notable event (odometry resets, ...)."""
        with self._lock:
            self.events[name] += 1

    def snapshot(self) -> dict[str, float | int | dict[str, int] | dict[str, float]]:
        """A consistent copy of all figures (latencies in ms, rates in Hz; ``stage_p50_ms`` by :data:`STAGES`)."""
        with self._lock:
            latency = np.array(self._latency_ms) if self._latency_ms else None
            stages = {name: float(np.percentile(values, 50)) if values else float("nan")
                      for name, values in self._stage_ms.items()}
            return {
                "frames_in": self.frames_in,
                "frames_out": self.frames_out,
                "input_rate_hz": self.input_rate.rate_hz(),
                "output_rate_hz": self.output_rate.rate_hz(),
                "latency_p50_ms": float(np.percentile(latency, 50)) if latency is not None else float("nan"),
                "latency_p95_ms": float(np.percentile(latency, 95)) if latency is not None else float("nan"),
                "inference_p50_ms": stages["inference"],
                "stage_p50_ms": stages,
                "drops": dict(self.drops),
                "drops_total": sum(self.drops.values()),
                "events": dict(self.events),
            }
