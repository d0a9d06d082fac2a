"""Score a stream of estimator outputs against ground truth, with the metric code of ``ss3d_eval`` (no ROS).

Used by ``ss3d_replay`` (outputs recorded from the running node over DDS, ``ss3d_ros.tools.replay`` imports this
module) and by the fine-tuning report (``training.finetune``: the estimator run in process over a bag, no DDS).

Ground truth can come from a TUM trajectory file (``T_world_camera`` of the optical frame), a ``nav_msgs/Odometry`` or
``tf2_msgs/TFMessage`` topic of the replayed bag, and a depth image topic of the bag (``16UC1`` mm or ``32FC1`` m).
Outputs and ground truth are associated by nearest stamp within 20 ms (TUM RGB-D practice).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ss3d_core.estimator.odometry import T_ODOM_OPTICAL_START
from ss3d_core.io.ground_truth import GroundTruthTrajectory
from ss3d_core.io.stamps import NANOSECONDS_PER_SECOND
from ss3d_core.io.tum_sequence import DEFAULT_MAX_TIME_DIFF_S
from ss3d_eval.depth_metrics import aggregate_depth, depth_metrics, select_depth_cap
from ss3d_eval.pose_metrics import aggregate_pose, ate_sim3, relative_pose_errors


class StreamOutputs(Protocol):
    """What scoring reads of a stream's outputs (``ss3d_ros.tools.output_recorder.RecordedOutputs`` is one).

    Attributes:
        odometry: ``[(stamp_ns, T_odom_camera 4×4)]``, any order.
        depth: ``{stamp_ns: h×w float32 depth}``.
    """

    odometry: list[tuple[int, np.ndarray]]
    depth: dict[int, np.ndarray]

# Below this fraction of output frames with a ground-truth match the report warns (with both time ranges): so few
# matches mean a clock or time-base mismatch, or ground truth of another run, far more often than a short gap.
MIN_GT_MATCH_FRACTION = 0.5


def _time_range_s(stamps_ns: list[int] | np.ndarray) -> str:
    """``[first, last] s`` of integer-nanosecond stamps, or ``no stamps``."""
    if len(stamps_ns) == 0:
        return "no stamps"
    return f"[{min(stamps_ns) / NANOSECONDS_PER_SECOND:.3f}, {max(stamps_ns) / NANOSECONDS_PER_SECOND:.3f}] s"


def match_warning(kind: str, n_matched: int, output_stamps_ns: list[int], gt_stamps_ns: list[int] | np.ndarray,
                  gt_source: str) -> str | None:
    """A warning when fewer than :data:`MIN_GT_MATCH_FRACTION` of the outputs found ground truth, else ``None``.

    Args:
        kind: what was matched (``pose``, ``depth``), for the message.
        n_matched: outputs with ground truth within the association tolerance.
        output_stamps_ns: stamps of all outputs of that kind (integer nanoseconds).
        gt_stamps_ns: stamps of the ground truth (integer nanoseconds).
        gt_source: where the ground truth came from (file or topic), for the message.
    """
    total = len(output_stamps_ns)
    if total == 0 or n_matched >= MIN_GT_MATCH_FRACTION * total:
        return None
    return (f"only {n_matched} of {total} output frames found a ground-truth {kind} within "
            f"{DEFAULT_MAX_TIME_DIFF_S * 1e3:g} ms: outputs span {_time_range_s(output_stamps_ns)}, ground truth "
            f"({gt_source}) spans {_time_range_s(gt_stamps_ns)}; a clock or time-base mismatch?")


def _is_segment_start(T_odom_camera: np.ndarray) -> bool:
    """The node restarts odometry exactly at ``T_ODOM_OPTICAL_START``; a real motion never lands there exactly."""
    return bool(np.array_equal(T_odom_camera, T_ODOM_OPTICAL_START))


def score_pose(outputs: StreamOutputs, gt: GroundTruthTrajectory) -> dict[str, object]:
    """Relative errors over consecutive output frames and Sim(3) ATE over the longest odometry segment.

    Returns:
        The :func:`~ss3d_eval.pose_metrics.aggregate_pose` keys, ``n_frames`` (odometry outputs),
        ``n_frames_with_gt`` (those with a ground-truth pose within 20 ms), ``gt_source``, ``ate_m`` and, when under
        :data:`MIN_GT_MATCH_FRACTION` of the frames found ground truth, ``warning`` with both time ranges.
    """
    odometry = sorted(outputs.odometry, key=lambda x: x[0])
    stamps = [s for s, _ in odometry]
    estimates: list[np.ndarray | None] = [T for _, T in odometry]
    gts = [gt.pose_at(s) for s in stamps]
    errors = relative_pose_errors(estimates, gts)
    # A pair straddling an odometry restart has no estimated motion.
    errors = [None if _is_segment_start(estimates[i + 1]) else e for i, e in enumerate(errors)]
    result = aggregate_pose(errors)
    result["n_frames"] = len(stamps)
    result["n_frames_with_gt"] = sum(g is not None for g in gts)
    result["gt_source"] = gt.source
    warning = match_warning("pose", result["n_frames_with_gt"], stamps, gt.stamps_ns, gt.source)
    if warning:
        result["warning"] = warning
    segments: list[list[int]] = []
    for i, T in enumerate(estimates):
        if i == 0 or _is_segment_start(T):
            segments.append([])
        if gts[i] is not None:
            segments[-1].append(i)
    longest = max(segments, key=len) if segments else []
    result["ate_m"] = None
    if len(longest) >= 3:
        ate = ate_sim3([stamps[i] / NANOSECONDS_PER_SECOND for i in longest], [estimates[i] for i in longest],
                       [gts[i] for i in longest])
        result["ate_m"] = ate.rmse_m
        result["ate_note"] = ate.reason
    return result


def score_depth(outputs: StreamOutputs, gt_depth: dict[int, np.ndarray], cap_m: float | None) -> dict[str, object]:
    """Median-scaled depth metrics of every recorded depth image with a GT image within 20 ms; ``n_frames`` counts
    the recorded depth images, and ``warning`` (both time ranges) is set when under :data:`MIN_GT_MATCH_FRACTION`
    of them found a GT image."""
    gt_stamps = np.array(sorted(gt_depth), dtype=np.int64)
    pairs = []
    for stamp, pred in outputs.depth.items():
        if gt_stamps.size == 0:
            break
        i = int(np.argmin(np.abs(gt_stamps - stamp)))
        if abs(int(gt_stamps[i]) - stamp) <= DEFAULT_MAX_TIME_DIFF_S * NANOSECONDS_PER_SECOND:
            pairs.append((pred, gt_depth[int(gt_stamps[i])]))
    cap, reason = select_depth_cap([g for _, g in pairs], override_m=cap_m)
    result = aggregate_depth([depth_metrics(pred, gt, cap) for pred, gt in pairs])
    result["cap_m"], result["cap_reason"] = cap, reason
    result["n_frames"] = len(outputs.depth)
    warning = match_warning("depth image", len(pairs), list(outputs.depth), gt_stamps, "depth topic")
    if warning:
        result["warning"] = warning
    return result
