"""Run the streaming estimator and the baselines over one TUM-layout sequence and score them.

The model is the node's :class:`~ss3d_core.estimator.Estimator` (a fresh one per sequence, frames in ``rgb.txt``
order, stamps from ``rgb.txt``); the baselines see the same frames and pairs:

* depth: every frame with a depth image within ``max_time_diff_s`` of it (nearest timestamp), scored by
  :func:`~ss3d_eval.depth_metrics.depth_metrics` with a per-sequence cap
  (:func:`~ss3d_eval.depth_metrics.select_depth_cap`); the ``constant_depth`` baseline on the same images.
* pose: every consecutive frame pair ``(i-1, i)`` whose two frames have a ground-truth pose within
  ``max_time_diff_s``; the model's ``T_prev_cur`` (``None`` after an odometry reset: counted, not scored), the
  ``identity_pose`` ("no motion") baseline and the two five-point baselines (a failure is counted, not scored).
  ATE after Sim(3) alignment over the frames with GT of the odometry segment holding most of them (segments restart
  at resets).
* pose sources: the estimator runs with the ``geometric`` pose source, whose estimates also carry the network's own
  motion, so both values of the node's ``pose_source`` parameter are scored on the same frames, depth and K: rows
  ``network`` and ``geometric`` (relative errors on the model's GT pairs, ATE of each chained motion). The model row
  is the one of ``options.estimator.pose_source`` (the node's default).
* intrinsics: the estimator's final K (after the last frame) against ``calib.yaml``; ``default_k`` and
  ``colmap_selfcalib`` likewise.
* ``colmap_selfcalib`` (the SfM teacher, :mod:`ss3d_eval.baselines.colmap_selfcalib`) also scores the relative pose
  of its reconstruction on the model's GT pairs (a pair with an unregistered frame counts as failed).

The estimator restarts odometry when consecutive stamps are more than ``gap_threshold_s`` apart. With
``RunOptions.gap_threshold_s = None`` (auto) the threshold is chosen per sequence by :func:`auto_gap_threshold_s`, so
a low frame rate is not mistaken for dropped frames; the threshold used is in ``result["settings"]``.

Images are used as stored: when ``calib.yaml`` lists distortion, the images are distorted and the model sees them as
they are (the result says ``distorted: true``); only the ``five_point_calibrated`` baseline undistorts its keypoints.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import yaml

from ss3d_core.estimator import Estimator, EstimatorConfig, FrameEstimate
from ss3d_core.estimator.geometric_pose import POSE_SOURCES
from ss3d_core.estimator.odometry import OdometryIntegrator
from ss3d_core.io.stamps import seconds_to_ns
from ss3d_core.io.tum_sequence import DEFAULT_MAX_TIME_DIFF_S, TumSequence
from ss3d_core.pose import invert_pose
from ss3d_eval.baselines import colmap_selfcalib, constant_depth, default_k, five_point, identity_pose
from ss3d_eval.depth_cues import image_depth_cues
from ss3d_eval.depth_metrics import (
    CALIB_CAP_KEY,
    MIN_DEPTH_M,
    DepthResult,
    abs_rel_error_map,
    aggregate_depth,
    depth_metrics,
    resize_depth,
    scaled_prediction,
    select_depth_cap,
)
from ss3d_eval.groups import sequence_group
from ss3d_eval.intrinsics_metrics import intrinsics_errors
from ss3d_eval.pose_metrics import (
    TRANSLATION_NOISE_FLOOR_M,
    AteResult,
    RelativePoseError,
    aggregate_pose,
    ate_sim3,
    pair_records,
    relative_motion,
    relative_pose_error,
)

__all__ = ["GAP_FRAME_PERIODS", "RunOptions", "DepthSample", "SequenceOutcome", "auto_gap_threshold_s", "run_sequence"]

LOG = logging.getLogger(__name__)

# Ground-truth depth images read to decide the indoor/outdoor cap (evenly spaced over the sequence).
CAP_DECISION_SAMPLES = 10
# Auto gap threshold, in median frame intervals: a gap means missing frames (two dropped in a row), not a low frame
# rate, so a 1 Hz sequence must not restart odometry at every frame.
GAP_FRAME_PERIODS = 3


@dataclass(frozen=True)
class RunOptions:
    """Evaluation settings shared by all sequences.

    Attributes:
        depth_cap_m: force this depth cap (metres) instead of the per-sequence rule.
        min_depth_m: smallest valid ground-truth depth, metres.
        max_frames: evaluate only the first ``max_frames`` frames of each sequence (``None``: all).
        n_depth_samples: depth frames kept per sequence for figures.
        noise_floor_m: GT translations below this skip the direction error.
        max_time_diff_s: association tolerance for depth images and GT poses, seconds.
        colmap: try the COLMAP self-calibration baseline.
        colmap_timeout_s: wall-clock limit of one COLMAP run, seconds.
        corpus_fx_per_width: the ``corpus_k`` baseline's focal length in image widths (the training corpus's median,
            :mod:`ss3d_eval.baselines.default_k`); ``None``: no ``corpus_k`` baseline.
        estimator: streaming settings handed to the estimator factory; its ``gap_threshold_s`` is the floor of the
            auto threshold.
        gap_threshold_s: odometry-restart stamp gap for every sequence, seconds; ``None``: per sequence with
            :func:`auto_gap_threshold_s`.
    """

    depth_cap_m: float | None = None
    min_depth_m: float = MIN_DEPTH_M
    max_frames: int | None = None
    n_depth_samples: int = 2
    noise_floor_m: float = TRANSLATION_NOISE_FLOOR_M
    max_time_diff_s: float = DEFAULT_MAX_TIME_DIFF_S
    colmap: bool = True
    colmap_timeout_s: float = colmap_selfcalib.DEFAULT_TIMEOUT_S
    corpus_fx_per_width: float | None = None
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    gap_threshold_s: float | None = None


@dataclass
class DepthSample:
    """One scored depth frame kept for figures (all ``H×W`` at the GT resolution, metres, NaN invalid).

    Attributes:
        frame_index: index in ``rgb.txt``.
        rgb: ``H0×W0×3`` uint8 input image.
        pred_m: median-scaled, clamped prediction (every pixel, also where the GT is invalid).
        gt_m: ground truth.
        abs_rel_map: per-pixel ``|gt - pred| / gt``.
    """

    frame_index: int
    rgb: np.ndarray
    pred_m: np.ndarray
    gt_m: np.ndarray
    abs_rel_map: np.ndarray


@dataclass
class SequenceOutcome:
    """Results of one sequence.

    Attributes:
        name: sequence folder name.
        result: JSON-ready per-sequence report (see :func:`run_sequence`).
        depth: per-image model results (``None`` = no valid GT pixel), for aggregation over images.
        pose: per-pair model errors (``None`` = no estimate), for aggregation over pairs.
        ate: ATE of the model, or ``None`` without enough GT.
        intrinsics: model intrinsics errors, or ``None``.
        baselines: per baseline, the same lists/dicts (``constant_depth`` -> depth list, ``identity_pose`` and
            ``five_point_*`` -> pose list with ``None`` for failures (never for ``identity_pose``),
            ``default_k``/``colmap_selfcalib`` -> intrinsics dict or ``None``, ``colmap_selfcalib_pose`` -> COLMAP's
            pose list, ``None`` where a frame did not register; empty when COLMAP is disabled; ``network`` and
            ``geometric`` -> the pose sources' lists, ``None`` where a source gave no motion). ``pose``,
            ``network``, ``geometric``, ``identity_pose``, the ``five_point_*`` lists and a non-empty
            ``colmap_selfcalib_pose`` are aligned: entry ``k`` of each is the same GT pair.
        depth_samples: frames kept for figures.
    """

    name: str
    result: dict[str, object]
    depth: list[DepthResult | None] = field(default_factory=list)
    pose: list[RelativePoseError | None] = field(default_factory=list)
    ate: AteResult | None = None
    intrinsics: dict[str, float] | None = None
    baselines: dict[str, object] = field(default_factory=dict)
    depth_samples: list[DepthSample] = field(default_factory=list)


def auto_gap_threshold_s(stamps_s: Sequence[float], floor_s: float) -> float:
    """Per-sequence odometry-restart gap: ``max(floor_s, GAP_FRAME_PERIODS · median frame interval)``, seconds.

    Args:
        stamps_s: frame stamps in seconds, in stream order (``rgb.txt``).
        floor_s: smallest threshold, seconds (the node's default ``EstimatorConfig().gap_threshold_s``).

    Returns:
        The threshold in seconds; ``floor_s`` with fewer than two stamps or no positive interval.
    """
    intervals = np.diff(np.asarray(stamps_s, dtype=np.float64))
    intervals = intervals[np.isfinite(intervals) & (intervals > 0)]
    if intervals.size == 0:
        return float(floor_s)
    return max(float(floor_s), GAP_FRAME_PERIODS * float(np.median(intervals)))


def _gap_settings(sequence: TumSequence, options: RunOptions) -> dict[str, object]:
    """The gap threshold for this sequence and how it was chosen (JSON-ready)."""
    stamps = [t for t, _ in sequence.rgb]
    intervals = np.diff(np.asarray(stamps, dtype=np.float64))
    median_s = float(np.median(intervals)) if intervals.size else None
    if options.gap_threshold_s is not None:
        return {"gap_threshold_s": float(options.gap_threshold_s), "gap_threshold_rule": "fixed",
                "median_frame_interval_s": median_s}
    floor_s = options.estimator.gap_threshold_s
    return {
        "gap_threshold_s": auto_gap_threshold_s(stamps, floor_s),
        "gap_threshold_rule": f"auto: max({floor_s:g} s, {GAP_FRAME_PERIODS} x median frame interval)",
        "gap_threshold_floor_s": floor_s,
        "median_frame_interval_s": median_s,
    }


def _calib_cap(sequence: TumSequence) -> float | None:
    raw = yaml.safe_load((sequence.root / "calib.yaml").read_text()) or {}
    return float(raw[CALIB_CAP_KEY]) if CALIB_CAP_KEY in raw else None


def _depth_cap(sequence: TumSequence, depth_frames: dict[int, int], options: RunOptions) -> tuple[float, str]:
    indices = sorted(set(depth_frames.values()))
    picks = [indices[i] for i in np.unique(np.linspace(0, len(indices) - 1, CAP_DECISION_SAMPLES).astype(int))]
    calib_cap = _calib_cap(sequence)
    samples = [] if options.depth_cap_m or calib_cap else [sequence.read_depth_m(i) for i in picks]
    return select_depth_cap(samples, options.depth_cap_m, calib_cap, options.min_depth_m)


class _FivePointTracker:
    """Five-point baselines on consecutive GT pairs, extracting SIFT features once per frame."""

    def __init__(self, sequence: TumSequence, noise_floor_m: float):
        calib = sequence.calibration
        self.variants = {
            "five_point_calibrated": (calib.K, calib.distortion or None),
            "five_point_guess_k": (default_k.generic_guess_K(calib.width, calib.height), None),
        }
        self.noise_floor_m = noise_floor_m
        self.errors: dict[str, list[RelativePoseError | None]] = {k: [] for k in self.variants}
        self.failures: dict[str, Counter[str]] = {k: Counter() for k in self.variants}

    def score_pair(
        self, features_prev: five_point.Features, features_cur: five_point.Features, T_prev_cur_gt: np.ndarray
    ) -> None:
        """Run both variants on one pair and score them against the GT motion (failures counted)."""
        pts_prev, pts_cur = five_point.match_features(features_prev, features_cur)
        for name, (K, distortion) in self.variants.items():
            outcome = five_point.relative_pose_from_matches(pts_prev, pts_cur, K, distortion)
            if outcome.T_prev_cur is None:
                self.failures[name][outcome.failure or "unknown"] += 1
                self.errors[name].append(None)
            else:
                self.errors[name].append(relative_pose_error(outcome.T_prev_cur, T_prev_cur_gt, self.noise_floor_m))

    def summary(self, name: str) -> dict[str, object]:
        """Aggregated pose errors of one variant, with failure counts."""
        pose = aggregate_pose(self.errors[name])
        pose["n_failed_pairs"] = pose.pop("n_skipped_pairs")
        pose["failures"] = dict(self.failures[name])
        pose["uses_distortion"] = bool(self.variants[name][1])
        return pose


def _ate_over_best_segment(
    stamps: list[float], estimates: list[FrameEstimate], T_odom_camera: list[np.ndarray], gt: list[np.ndarray | None]
) -> AteResult | None:
    """ATE of the trajectory ``T_odom_camera`` (one pose per frame) over the GT-matched frames of the odometry segment
    that holds most of them (``None`` without GT)."""
    by_segment: dict[int, list[int]] = {}
    for i, (est, T_gt) in enumerate(zip(estimates, gt)):
        if T_gt is not None:
            by_segment.setdefault(est.segment, []).append(i)
    if not by_segment:
        return None
    frames = max(by_segment.values(), key=len)
    return ate_sim3([stamps[i] for i in frames], [T_odom_camera[i] for i in frames], [gt[i] for i in frames])


def _source_motion(est: FrameEstimate, source: str) -> np.ndarray | None:
    """One pose source's motion for the pair ending at ``est`` (the estimator runs the ``geometric`` source)."""
    return est.T_prev_cur_network if source == "network" else est.T_prev_cur


def _depth_sample(
    index: int, rgb: np.ndarray, pred: np.ndarray, gt_depth_m: np.ndarray, cap_m: float, min_m: float
) -> DepthSample:
    """Figure data: the whole prediction (not only the scored pixels) median-scaled and clamped, and the error map."""
    pred_m, mask, ratio = scaled_prediction(pred, gt_depth_m, cap_m, min_m)
    full = np.clip(resize_depth(pred, gt_depth_m.shape) * ratio, min_m, cap_m)
    return DepthSample(index, rgb, full, gt_depth_m, abs_rel_error_map(pred_m, gt_depth_m, mask))


def _intrinsics_block(K: np.ndarray, size: tuple[int, int], sequence: TumSequence) -> dict[str, float]:
    calib = sequence.calibration
    return intrinsics_errors(K, size, calib.K, (calib.width, calib.height))


@dataclass
class _Plan:
    """What one sequence offers: frames to run, their depth images and GT poses, and the depth cap."""

    n: int
    stamps: list[float]
    depth_frames: dict[int, int]
    gt: list[np.ndarray | None]
    cap_m: float | None
    cap_rule: str | None

    def has_gt_pair(self, i: int) -> bool:
        """Frames ``i - 1`` and ``i`` both exist and both have a GT pose."""
        return 1 <= i < self.n and self.gt[i] is not None and self.gt[i - 1] is not None


def _plan(sequence: TumSequence, options: RunOptions) -> _Plan:
    n = len(sequence.rgb) if options.max_frames is None else min(options.max_frames, len(sequence.rgb))
    dt = options.max_time_diff_s
    depth_frames = {i: d for i in range(n) if (d := sequence.depth_index_for_frame(i, dt)) is not None}
    cap_m, cap_rule = _depth_cap(sequence, depth_frames, options) if depth_frames else (None, None)
    return _Plan(
        n=n,
        stamps=[sequence.rgb[i][0] for i in range(n)],
        depth_frames=depth_frames,
        gt=[sequence.gt_pose_for_frame(i, dt) for i in range(n)],
        cap_m=cap_m,
        cap_rule=cap_rule,
    )


def _check_depth_registered(sequence: TumSequence, depth_index: int, gt_depth: np.ndarray, rgb: np.ndarray) -> None:
    """``ValueError`` unless the ground-truth depth has the image's size: the protocol scores depth registered to the
    image pixel for pixel, and resizing a depth of another size would compare different pixels without a word."""
    if gt_depth.shape != rgb.shape[:2]:
        (gh, gw), (h, w) = gt_depth.shape, rgb.shape[:2]
        raise ValueError(f"depth image {sequence.root / sequence.depth[depth_index][1]} is {gw}×{gh} but its image "
                         f"is {w}×{h}: depth must be registered to the image at the image's resolution")


@dataclass
class _FrameLoop:
    """Everything collected while streaming the frames (see :func:`_run_frames`)."""

    estimates: list[FrameEstimate] = field(default_factory=list)
    trajectories: dict[str, list[np.ndarray]] = field(default_factory=lambda: {name: [] for name in POSE_SOURCES})
    per_image: list[dict[str, object]] = field(default_factory=list)
    constant_per_image: list[dict[str, object]] = field(default_factory=list)
    pair_frames: list[int] = field(default_factory=list)
    pairs_missing_gt: int = 0
    pairs_no_estimate: int = 0
    seconds: float = 0.0


def _run_frames(
    sequence: TumSequence,
    estimator: Estimator,
    plan: _Plan,
    options: RunOptions,
    outcome: SequenceOutcome,
    five: _FivePointTracker,
) -> _FrameLoop:
    """Stream the frames through the estimator in ``rgb.txt`` order; score depth and pairs as they come.

    Fills ``outcome.depth``, ``outcome.pose``, ``outcome.baselines["constant_depth"]``,
    ``outcome.baselines["identity_pose"]`` and ``outcome.depth_samples``; the identity baseline and the five-point
    tracker score the same GT pairs as the model.
    """
    loop = _FrameLoop()
    constant: list[DepthResult | None] = []
    identity: list[RelativePoseError | None] = []
    sources: dict[str, list[RelativePoseError | None]] = {name: [] for name in POSE_SOURCES}
    odometry = {name: OdometryIntegrator() for name in POSE_SOURCES}
    features_prev: five_point.Features | None = None
    start = time.perf_counter()
    for i in range(plan.n):
        rgb = sequence.read_rgb(i)
        est = estimator.estimate(rgb, seconds_to_ns(plan.stamps[i]))
        loop.estimates.append(est)
        for name, integrator in odometry.items():
            motion = _source_motion(est, name)
            if motion is None:
                integrator.reset()
            else:
                integrator.integrate(motion)
            loop.trajectories[name].append(integrator.T_odom_camera.copy())
        if i in plan.depth_frames:
            gt_depth = sequence.read_depth_m(plan.depth_frames[i])
            _check_depth_registered(sequence, plan.depth_frames[i], gt_depth, rgb)
            result = depth_metrics(est.depth, gt_depth, plan.cap_m, options.min_depth_m)
            outcome.depth.append(result)
            flat = constant_depth.constant_depth_prediction(*est.depth.shape)
            constant.append(depth_metrics(flat, gt_depth, plan.cap_m, options.min_depth_m))
            loop.constant_per_image.append(
                {"frame": i, **(constant[-1].as_dict() if constant[-1] else {"skipped": True})})
            scored = result.as_dict() if result else {"skipped": True}
            if result is not None:
                scored["cues"] = image_depth_cues(est.depth, gt_depth, rgb, plan.cap_m, options.min_depth_m)
            loop.per_image.append({"frame": i, "stamp_s": plan.stamps[i], **scored})
            if result is not None and len(outcome.depth_samples) < options.n_depth_samples:
                outcome.depth_samples.append(
                    _depth_sample(i, rgb, est.depth, gt_depth, plan.cap_m, options.min_depth_m)
                )
        # Five-point features are needed for this frame when it closes or opens a GT pair.
        needed = plan.has_gt_pair(i) or plan.has_gt_pair(i + 1)
        features_cur = five_point.extract_features(rgb) if needed else None
        if i >= 1 and not plan.has_gt_pair(i):
            loop.pairs_missing_gt += 1
        elif i >= 1:
            loop.pair_frames.append(i)
            T_gt = relative_motion(plan.gt[i - 1], plan.gt[i])
            for name, errors in sources.items():
                motion = _source_motion(est, name)
                errors.append(None if motion is None else relative_pose_error(motion, T_gt, options.noise_floor_m))
            outcome.pose.append(sources[options.estimator.pose_source][-1])
            if outcome.pose[-1] is None:
                loop.pairs_no_estimate += 1
            identity.append(identity_pose.identity_pose_error(T_gt, options.noise_floor_m))
            five.score_pair(features_prev, features_cur, T_gt)
        features_prev = features_cur
    outcome.baselines["constant_depth"] = constant
    outcome.baselines["identity_pose"] = identity
    outcome.baselines.update(sources)
    loop.seconds = time.perf_counter() - start
    return loop


def _pose_section(
    outcome: SequenceOutcome, plan: _Plan, loop: _FrameLoop, options: RunOptions
) -> dict[str, object]:
    trajectory = loop.trajectories[options.estimator.pose_source]
    outcome.ate = _ate_over_best_segment(plan.stamps, loop.estimates, trajectory, plan.gt)
    pose = aggregate_pose(outcome.pose)
    pose.pop("n_skipped_pairs")  # = n_pairs_no_estimate below
    return {
        **pose,
        "n_candidate_pairs": max(plan.n - 1, 0),
        "n_pairs_missing_gt": loop.pairs_missing_gt,
        "n_pairs_no_estimate": loop.pairs_no_estimate,
        "noise_floor_m": options.noise_floor_m,
        "ate_m": outcome.ate.rmse_m if outcome.ate else None,
        "ate": outcome.ate.as_dict() if outcome.ate else None,
        "per_pair": pair_records(loop.pair_frames, outcome.pose),
    }


def _intrinsics_section(outcome: SequenceOutcome, sequence: TumSequence, last: FrameEstimate) -> dict[str, object]:
    """The estimator's final K (at the depth size) against calib.yaml, compared at the calibration resolution."""
    calib = sequence.calibration
    size = (last.depth.shape[1], last.depth.shape[0])
    outcome.intrinsics = _intrinsics_block(last.K, size, sequence)
    if tuple(last.input_size) != (calib.width, calib.height):
        LOG.warning("%s: images are %s but calib.yaml says %sx%s", sequence.name, last.input_size,
                    calib.width, calib.height)
    return {
        **outcome.intrinsics,
        "intrinsics_source": last.intrinsics_source.value,
        "K_size": list(size),
        "calib": {"fx": calib.K[0, 0], "fy": calib.K[1, 1], "cx": calib.K[0, 2], "cy": calib.K[1, 2]},
        "compared_at": "calibration resolution (estimate scaled with scale_K)",
    }


def _colmap(
    sequence: TumSequence, plan: _Plan, options: RunOptions
) -> tuple[dict[str, object], list[RelativePoseError | None]]:
    """COLMAP (the SfM teacher) on the first frames: its K scored like the model's, and its relative pose on every
    GT pair the model is scored on, in the order of ``outcome.pose`` (``None``: a frame of the pair is not
    registered, or COLMAP made no model)."""
    if not options.colmap:
        return {"status": "disabled", "reason": "--no-colmap"}, []
    run, model = colmap_selfcalib.colmap_selfcalibration(
        (sequence.read_rgb(i) for i in range(plan.n)), plan.n, timeout_s=options.colmap_timeout_s
    )
    if run.get("status") == "ok":
        K = np.array([[run["fx"], 0.0, run["cx"]], [0.0, run["fy"], run["cy"]], [0.0, 0.0, 1.0]])
        run["intrinsics"] = _intrinsics_block(K, (int(run["width"]), int(run["height"])), sequence)
    errors: list[RelativePoseError | None] = []
    for i in (i for i in range(1, plan.n) if plan.has_gt_pair(i)):
        if model is None or i >= model.n_frames or not (model.registered[i - 1] and model.registered[i]):
            errors.append(None)
            continue
        T_prev_cur = model.T_camera_world[i - 1] @ invert_pose(model.T_camera_world[i])
        errors.append(relative_pose_error(T_prev_cur, relative_motion(plan.gt[i - 1], plan.gt[i]),
                                          options.noise_floor_m))
    if sequence.gt_stamps.size:
        pose = aggregate_pose(errors)
        pose["n_failed_pairs"] = pose.pop("n_skipped_pairs")
        run["pose"] = pose
    return run, errors


def _identity_summary(errors: list[RelativePoseError | None]) -> dict[str, object]:
    """Aggregated "no motion" errors, with the keys of the five-point summaries (it never fails)."""
    pose = aggregate_pose(errors)
    pose["n_failed_pairs"] = pose.pop("n_skipped_pairs")
    pose["failures"] = {}
    pose["uses_distortion"] = False
    return pose


def _pose_source_summary(
    name: str, outcome: SequenceOutcome, plan: _Plan, loop: _FrameLoop, counters: dict[str, int]
) -> dict[str, object]:
    """One pose source's row: aggregated errors on the model's GT pairs, its ATE, and (``geometric``) how many pairs
    each degenerate case took (the estimator's ``pose_geometric_*`` counters)."""
    pose = aggregate_pose(outcome.baselines[name])
    pose["n_failed_pairs"] = pose.pop("n_skipped_pairs")
    ate = _ate_over_best_segment(plan.stamps, loop.estimates, loop.trajectories[name], plan.gt)
    pose["ate_m"] = ate.rmse_m if ate else None
    pose["ate"] = ate.as_dict() if ate else None
    prefix = f"pose_{name}_"
    pose["outcomes"] = {k.removeprefix(prefix): v for k, v in sorted(counters.items()) if k.startswith(prefix)}
    return pose


def _baselines_section(
    outcome: SequenceOutcome, sequence: TumSequence, plan: _Plan, five: _FivePointTracker, options: RunOptions,
    loop: _FrameLoop, counters: dict[str, int],
) -> dict[str, object]:
    calib = sequence.calibration
    size = (calib.width, calib.height)
    for name in five.variants:
        outcome.baselines[name] = five.errors[name]
    outcome.baselines["default_k"] = _intrinsics_block(default_k.generic_guess_K(*size), size, sequence)
    outcome.baselines["corpus_k"] = (None if options.corpus_fx_per_width is None else _intrinsics_block(
        default_k.generic_guess_K(*size, options.corpus_fx_per_width), size, sequence))
    colmap, outcome.baselines["colmap_selfcalib_pose"] = _colmap(sequence, plan, options)
    outcome.baselines["colmap_selfcalib"] = colmap.get("intrinsics")
    has_gt = bool(sequence.gt_stamps.size)
    constant = ({**aggregate_depth(outcome.baselines["constant_depth"]), "per_image": loop.constant_per_image}
                if plan.depth_frames else None)
    if colmap.get("pose") is not None:
        colmap["pose"]["per_pair"] = pair_records(loop.pair_frames, outcome.baselines["colmap_selfcalib_pose"])

    def with_pairs(pose: dict[str, object], errors: list[RelativePoseError | None]) -> dict[str, object]:
        return {**pose, "per_pair": pair_records(loop.pair_frames, errors)}

    return {
        "constant_depth": {"depth": constant},
        "identity_pose": {"pose": with_pairs(_identity_summary(outcome.baselines["identity_pose"]),
                                             outcome.baselines["identity_pose"]) if has_gt else None},
        **{name: {"pose": with_pairs(five.summary(name), five.errors[name]) if has_gt else None}
           for name in five.variants},
        **{name: {"pose": with_pairs(_pose_source_summary(name, outcome, plan, loop, counters),
                                     outcome.baselines[name]) if has_gt else None}
           for name in POSE_SOURCES},
        "default_k": {"intrinsics": outcome.baselines["default_k"]},
        "corpus_k": {"intrinsics": outcome.baselines["corpus_k"]},
        "colmap_selfcalib": colmap,
    }


def run_sequence(
    sequence: TumSequence,
    estimator_factory: Callable[[EstimatorConfig], Estimator],
    options: RunOptions | None = None,
) -> SequenceOutcome:
    """Evaluate the model and the baselines on one sequence.

    Args:
        sequence: a loaded :class:`TumSequence`.
        estimator_factory: returns a fresh :class:`Estimator` for the given config (called once, with
            ``options.estimator`` whose ``gap_threshold_s`` is this sequence's threshold).
        options: :class:`RunOptions`.

    Returns:
        :class:`SequenceOutcome`; ``result`` holds ``n_frames``, ``image_size``, ``distorted``, ``settings``
        (``gap_threshold_s`` used, seconds, and how it was chosen), ``estimator`` (reset counters, mean inference
        time), ``depth`` (``None`` without depth images), ``pose`` (``None`` without ground-truth poses),
        ``intrinsics`` and ``baselines``.

    Raises:
        ValueError: on unreadable images or depth files (from :class:`TumSequence`), 8-bit depth, or a depth image
            of another size than its image.
    """
    options = options or RunOptions()
    calib = sequence.calibration
    plan = _plan(sequence, options)
    outcome = SequenceOutcome(name=sequence.name, result={})
    settings = _gap_settings(sequence, options)
    # The geometric source's estimates carry the network's motion too: one run scores both pose sources.
    estimator = estimator_factory(replace(options.estimator, gap_threshold_s=settings["gap_threshold_s"],
                                          pose_source="geometric"))
    five = _FivePointTracker(sequence, options.noise_floor_m)
    try:
        loop = _run_frames(sequence, estimator, plan, options, outcome, five)
    finally:
        estimator.close()
    depth = None
    if plan.depth_frames:
        extra = {"cap_m": plan.cap_m, "cap_rule": plan.cap_rule, "min_m": options.min_depth_m}
        depth = {**aggregate_depth(outcome.depth), **extra, "per_image": loop.per_image}
    inference_ms = [e.inference_ms for e in loop.estimates]
    outcome.result = {
        "group": sequence_group(sequence.name, sequence.metadata),
        "n_frames": plan.n,
        "n_frames_in_sequence": len(sequence.rgb),
        "image_size": [calib.width, calib.height],
        "distorted": bool(calib.distortion and any(calib.distortion)),
        "distortion_model": calib.distortion_model or None,
        "metadata": dict(sequence.metadata),
        "settings": settings,
        "estimator": {
            "counters": dict(estimator.counters),
            "mean_inference_ms": float(np.mean(inference_ms)) if inference_ms else None,
            "pose_source": options.estimator.pose_source,
            "median_geometry_ms": (float(np.median([e.geometry_ms for e in loop.estimates[1:]]))
                                   if len(loop.estimates) > 1 else None),
            "seconds_total": round(loop.seconds, 3),
        },
        "depth": depth,
        "pose": _pose_section(outcome, plan, loop, options) if sequence.gt_stamps.size else None,
        "intrinsics": _intrinsics_section(outcome, sequence, loop.estimates[-1]) if loop.estimates else None,
        "baselines": _baselines_section(outcome, sequence, plan, five, options, loop, dict(estimator.counters)),
    }
    return outcome
