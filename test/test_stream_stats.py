"""Node stream statistics: the per-stage breakdown reported in /diagnostics."""

from __future__ import annotations

import math

import pytest

from ss3d_ros.diagnostics import diagnostic_status
from ss3d_ros.stream_stats import STAGES, StreamStats


def test_stage_breakdown_is_reported_per_stage():
    stats = StreamStats()
    assert all(math.isnan(v) for v in stats.snapshot()["stage_p50_ms"].values())
    for i in range(3):
        stats.received()
        stats.published(50.0 + i, {name: float(k + i) for k, name in enumerate(STAGES)})
    snapshot = stats.snapshot()
    assert snapshot["stage_p50_ms"] == {name: float(k + 1) for k, name in enumerate(STAGES)}
    assert snapshot["inference_p50_ms"] == snapshot["stage_p50_ms"]["inference"]
    values = {kv.key: kv.value for kv in diagnostic_status("/ss3d", snapshot, "onnxruntime-cpu", "active", 0).values}
    assert values["stage_waiting_p50_ms"] == "1.00" and values["stage_publishing_p50_ms"] == "6.00"
    with pytest.raises(KeyError):
        stats.published(1.0, {"teleportation": 1.0})
