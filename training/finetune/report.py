"""The before/after report of a fine-tuning run: the held-back part of the log through the previous and the new
checkpoint, scored without ground truth and, when the log comes with some, with the ``ss3d_eval`` metrics.

Replay without DDS: the frames of the bag's image topic (decoded as the node decodes them) go through the node's own
streaming estimator (:class:`ss3d_core.estimator.Estimator`, torch backend; with ``use_camera_info`` the calibrated K,
as the node's ``use_camera_info``) in this process, and the stream is scored with ``ss3d_replay``'s scoring
(:mod:`ss3d_eval.stream_scoring`). Only frames from the hold-out's start on are played, so every scored
pair is held back.

Without ground truth, on up to :data:`MAX_REPORT_TRIPLETS` evenly spaced held-back triplets at the training rate:

- **photometric**: the training loss's SSIM+L1 minimum reprojection error with auto-masking
  (:func:`ss3d_core.losses.view_synthesis_loss`) of the middle frame from its two neighbours, at the network size; with
  calibrated K both checkpoints are scored with it, else each with its own predicted K. Lower is better.
- **depth agreement**: AbsRel of the median-scaled depth against depth triangulated from the flow
  (:func:`training.selfcheck.depth_agreement.frame_pair_agreement`), next to a constant depth's AbsRel. Lower is better.
- **pose agreement**: rotation and translation-direction angle between the network's pose and the five-point
  solution with the network's own K (:func:`training.selfcheck.pose_agreement.frame_pair_pose_agreement`). Lower is
  better.
- **intrinsics**: median and spread (coefficient of variation) of the per-pair ``fx/W``, and, with a CameraInfo, the
  relative error of the median against the calibration.

With ground truth (a TUM trajectory file, an odometry/TF topic, a depth topic): the relative rotation and
translation-direction errors, Sim(3) ATE and the median-scaled depth metrics of the stream, as ``ss3d_replay``
reports them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ss3d_core.checkpoint import load_checkpoint
from ss3d_core.estimator import EstimatorConfig
from ss3d_core.estimator.estimator import build_estimator
from ss3d_core.io.bag_images import iter_bag_frames
from ss3d_core.io.ground_truth import GroundTruthTrajectory
from ss3d_core.io.image_message import NANOSECONDS_PER_SECOND
from ss3d_core.preprocess import to_network_input
from ss3d_eval.statistics import median_or_none
from ss3d_eval.stream_scoring import score_depth, score_pose
from training.finetune.bag_log import CameraCalibration
from training.fit.module import SS3DLightningModule
from training.selfcheck.depth_agreement import frame_pair_agreement
from training.selfcheck.pose_agreement import frame_pair_pose_agreement

LOG = logging.getLogger(__name__)

__all__ = ["MAX_REPORT_TRIPLETS", "ReportInputs", "score_checkpoints", "write_report"]

# Held-back triplets scored without ground truth (evenly spaced; bounds the report's time and memory).
MAX_REPORT_TRIPLETS = 24
# Read every message of the image topic for the replay (a rate no camera reaches: nothing is subsampled).
_EVERY_FRAME_HZ = 1e6


@dataclass
class ReportInputs:
    """What the report replays and scores.

    Attributes:
        bag: the rosbag2. topic: its image topic (``None``: chosen as the node chooses it).
        holdout_start_s: stamp of the first held-back frame, seconds.
        target_rate_hz: the training rate (for the ground-truth-free checks).
        calibration: the bag's CameraInfo when ``use_camera_info``, else ``None``.
        camera_info_in_bag: the bag's CameraInfo (for the intrinsics error) even when not used.
        gt_trajectory: ground-truth poses, or ``None``. gt_depth: ``{stamp_ns: H×W metres}``, or ``None``.
        depth_cap_m: override of the depth cap.
    """

    bag: Path
    topic: str | None
    holdout_start_s: float
    target_rate_hz: float
    calibration: CameraCalibration | None = None
    camera_info_in_bag: CameraCalibration | None = None
    gt_trajectory: GroundTruthTrajectory | None = None
    gt_depth: dict[int, np.ndarray] | None = None
    depth_cap_m: float | None = None
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class _Stream:
    odometry: list[tuple[int, np.ndarray]] = field(default_factory=list)
    depth: dict[int, np.ndarray] = field(default_factory=dict)


def _held_back(inputs: ReportInputs, rate_hz: float) -> Iterator[tuple[int, np.ndarray]]:
    start_ns = int(round(inputs.holdout_start_s * NANOSECONDS_PER_SECOND))
    for stamp_s, rgb in iter_bag_frames(inputs.bag, rate_hz, inputs.topic, with_stamps=True):
        stamp_ns = int(round(stamp_s * NANOSECONDS_PER_SECOND))
        if stamp_ns >= start_ns:
            yield stamp_ns, rgb


def _replay(checkpoints: dict[str, str], inputs: ReportInputs) -> dict[str, _Stream]:
    """Every held-back frame through each checkpoint's streaming estimator (one pass over the bag)."""
    estimators = {}
    for name, path in checkpoints.items():
        # The network's own motion: this report compares the checkpoints, not the geometric pose source.
        estimators[name] = build_estimator(path, backend="torch", config=EstimatorConfig(pose_source="network"))
        if inputs.calibration is not None:
            c = inputs.calibration
            estimators[name].set_known_intrinsics(c.K, c.width, c.height)
    streams = {name: _Stream() for name in checkpoints}
    for stamp_ns, rgb in _held_back(inputs, _EVERY_FRAME_HZ):
        for name, estimator in estimators.items():
            estimate = estimator.estimate(rgb, stamp_ns)
            streams[name].odometry.append((stamp_ns, estimate.T_odom_camera))
            if inputs.gt_depth is not None:
                streams[name].depth[stamp_ns] = estimate.depth
    return streams


def _triplets(inputs: ReportInputs) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Up to :data:`MAX_REPORT_TRIPLETS` evenly spaced held-back triplets at the training rate (full-size frames)."""
    n = sum(1 for _ in _held_back(inputs, inputs.target_rate_hz))
    if n < 3:
        return []
    centres = sorted({int(round(x)) for x in np.linspace(1, n - 2, num=min(MAX_REPORT_TRIPLETS, n - 2))})
    wanted = {c + d for c in centres for d in (-1, 0, 1)}
    frames = {i: rgb for i, (_, rgb) in enumerate(_held_back(inputs, inputs.target_rate_hz)) if i in wanted}
    return [(frames[c - 1], frames[c], frames[c + 1]) for c in centres]


def _photometric(path: str, triplets: list, calibration: CameraCalibration | None) -> float | None:
    """Mean photometric term of the training loss over the triplets (see the module docstring)."""
    _, metadata = load_checkpoint(path)
    module = SS3DLightningModule(net=metadata.architecture, init_from=path,
                                 use_known_intrinsics=calibration is not None).eval()
    w, h = metadata.architecture.input_width, metadata.architecture.input_height
    values = []
    torch.manual_seed(0)  # the auto-mask tie-break noise
    for triplet in triplets:
        frames = torch.from_numpy(np.concatenate([to_network_input(f, w, h) for f in triplet]))[None]
        batch = {"frames": frames}
        if calibration is not None:
            batch["intrinsics"] = torch.tensor([calibration.normalised()], dtype=torch.float32)
        with torch.no_grad():
            terms, _ = module._step(batch, augment=False)
        values.append(float(terms["photometric"]))
    return float(np.mean(values)) if values else None


def _cv(values: list[float]) -> float | None:
    return float(np.std(values) / np.median(values)) if len(values) > 1 and np.median(values) > 0 else None


def _without_gt(path: str, triplets: list, inputs: ReportInputs) -> dict[str, object]:
    net, _ = load_checkpoint(path)
    net.eval()
    depth = [frame_pair_agreement(net, a, b) for a, b, _ in triplets]
    depth = [d for d in depth if d is not None]
    poses = [frame_pair_pose_agreement(net, a, b) for a, b, _ in triplets]
    fx = [f for _, f in poses]
    errors = [e for e, _ in poses if e is not None]
    result = {
        "photometric": _photometric(path, triplets, inputs.calibration),
        "depth_agreement_abs_rel": median_or_none([d.abs_rel for d in depth]),
        "depth_agreement_abs_rel_constant": median_or_none([d.abs_rel_constant for d in depth]),
        "depth_agreement_spearman": median_or_none([d.spearman for d in depth]),
        "depth_agreement_pairs": len(depth),
        "pose_agreement_rot_deg": median_or_none([e.rot_err_deg for e in errors]),
        "pose_agreement_tdir_deg": median_or_none([e.tdir_err_deg for e in errors if e.tdir_err_deg is not None]),
        "pose_agreement_pairs": len(errors),
        "fx_norm_median": median_or_none(fx),
        "fx_norm_cv": _cv(fx),
    }
    calib = inputs.camera_info_in_bag
    if calib is not None and result["fx_norm_median"] is not None:
        result["fx_rel_error_vs_camera_info"] = abs(result["fx_norm_median"] / calib.normalised()[0] - 1.0)
    return result


def score_checkpoints(checkpoints: dict[str, str], inputs: ReportInputs) -> dict[str, dict[str, object]]:
    """Score each named checkpoint on the held-back part (see the module docstring).

    Args:
        checkpoints: ``{name: SS3D checkpoint path without suffix}`` (``before``, ``after``).
        inputs: what to replay and score.

    Returns:
        ``{name: metrics}``: the ground-truth-free metrics, plus ``pose`` / ``depth`` (``ss3d_replay``'s keys) when
        ground truth was given, and ``n_stream_frames``.

    Raises:
        ss3d_core.checkpoint.CheckpointError: an unreadable checkpoint. ss3d_core.io.bag_errors.BagReadError.
    """
    streams = _replay(checkpoints, inputs)
    triplets = _triplets(inputs)
    results = {}
    for name, path in checkpoints.items():
        LOG.info("scoring %s (%s) on %d held-back frames, %d triplets", name, path, len(streams[name].odometry),
                 len(triplets))
        result: dict[str, object] = {"checkpoint": str(path), "n_stream_frames": len(streams[name].odometry),
                                     "n_triplets": len(triplets), **_without_gt(path, triplets, inputs)}
        if inputs.gt_trajectory is not None:
            result["pose"] = score_pose(streams[name], inputs.gt_trajectory)
        if inputs.gt_depth is not None:
            result["depth"] = score_depth(streams[name], inputs.gt_depth, inputs.depth_cap_m)
        results[name] = result
    return results


# (label, key path, digits) of the report table; lower is better for every row but the Spearman and δ1.
_ROWS = [
    ("photometric error (SSIM+L1, held-back triplets) ↓", ("photometric",), 4),
    ("depth agreement AbsRel vs triangulated flow ↓", ("depth_agreement_abs_rel",), 3),
    ("… constant depth's AbsRel (reference)", ("depth_agreement_abs_rel_constant",), 3),
    ("depth agreement Spearman ↑", ("depth_agreement_spearman",), 2),
    ("pose agreement with five-point: rotation ° ↓", ("pose_agreement_rot_deg",), 3),
    ("pose agreement with five-point: translation direction ° ↓", ("pose_agreement_tdir_deg",), 1),
    ("fx/W median (learned head)", ("fx_norm_median",), 3),
    ("fx/W spread (std / median) ↓", ("fx_norm_cv",), 3),
    ("fx relative error vs CameraInfo ↓", ("fx_rel_error_vs_camera_info",), 3),
    ("GT: rotation error ° per pair ↓", ("pose", "rot_err_deg"), 3),
    ("GT: translation direction error ° ↓", ("pose", "tdir_err_deg"), 2),
    ("GT: ATE after Sim(3) alignment, m ↓", ("pose", "ate_m"), 3),
    ("GT: depth AbsRel ↓", ("depth", "abs_rel"), 3),
    ("GT: depth δ1 ↑", ("depth", "delta1"), 3),
]


def _get(metrics: dict, keys: tuple[str, ...]) -> object:
    for key in keys:
        metrics = metrics.get(key) if isinstance(metrics, dict) else None
    return metrics


def _fmt(value: object, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else ("–" if value is None else str(value))


def write_report(out: Path, results: dict[str, dict[str, object]], header: dict[str, object]) -> tuple[Path, Path]:
    """Write ``report.json`` (``header`` + ``results``) and ``report.md`` (the before/after table) to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {**header, "results": results}
    json_path, md_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    names = list(results)
    lines = [f"# Fine-tuning report: {header.get('bag')}", "",
             f"Held back (never trained on): frames from {_fmt(header.get('holdout_start_s'), 3)} s on "
             f"({header.get('holdout_note', '')}). Intrinsics: {header.get('intrinsics_source')}.",
             f"Ground truth: {header.get('ground_truth') or 'none (ground-truth-free checks only)'}.",
             f"SfM teacher: {header.get('sfm_note') or 'not run'}", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, keys, digits in _ROWS:
        values = [_get(results[n], keys) for n in names]
        if all(v is None for v in values):
            continue
        lines.append(f"| {label} | " + " | ".join(_fmt(v, digits) for v in values) + " |")
    counts = ", ".join(f"{n}: {results[n]['n_stream_frames']} streamed frames, {results[n]['n_triplets']} triplets"
                       for n in names)
    lines += ["", f"Counts: {counts}.", "", f"Command: `{header.get('command')}`", ""]
    md_path.write_text("\n".join(lines))
    return json_path, md_path
