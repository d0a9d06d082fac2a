"""Aggregate per-sequence outcomes into the evaluation report; write it as JSON and Markdown.

Report layout (``report.json``)::

    {"checkpoint": str, "settings": {...}, "notes": [str, ...],
     "failed": {name: reason}, "warnings": [str, ...],   # sequences not scored: unreadable / empty
     "sequences": {name: {"group": str, "settings": {"gap_threshold_s", ...},
                          "depth": {..., "per_image": [{frame, abs_rel, delta1, ...}]} | null,
                          "pose": {..., "per_pair": [{frame, rot_err_deg, tdir_err_deg, moving, ...}]} | null,
                          "intrinsics": {fx_rel_err, ...}, "baselines": {...}, ...}},
     "groups": {"depth": {group: {abs_rel, ..., n_images}}, "pose": {group: {rot_err_deg, ..., n_pairs}},
                "intrinsics": {group: {fx_rel_err, ..., n_sequences}}},
     "aggregate": {"depth": {abs_rel, sq_rel, rmse, rmse_log, delta1, delta2, delta3, n_images, n_groups, ...},
                   "pose": {rot_err_deg, tdir_err_deg, n_pairs, n_groups, ate_m, n_ate_sequences, ...},
                   "intrinsics": {fx_rel_err, fy_rel_err, cx_rel_err, cy_rel_err, n_sequences, n_groups}},
     "baselines": {"constant_depth": {"depth": {...}},
                   "network", "geometric": {"pose": {..., ate_m, n_ate_sequences}, "paired_with_model": {...}},
                   "identity_pose": {"pose": {...}, "paired_with_model": {...}},
                   "five_point_calibrated": {"pose": {...}, "paired_with_model": {...}},
                   "five_point_guess_k": {"pose": {...}, "paired_with_model": {...}},
                   "default_k": {"intrinsics": {...}},
                   "colmap_selfcalib": {"status": ..., "intrinsics": {...}, "pose": {...}, "paired_with_model": {...},
                                        "per_sequence": {...}}}}

Per-item results (``per_image``, ``per_pair``, and each sequence's ``intrinsics``; the same lists in each sequence's
depth and pose baselines) let two reports be compared item by item (:mod:`ss3d_eval.compare`).

Groups and weighting (:mod:`ss3d_eval.groups`): a depth image or an intrinsics estimate belongs to its sequence's group
(the dataset: ``tum``, ``nyu``, ``dgp``, ``kitti``, ...); a pose pair to its sequence's group when the camera moved, to
``static`` otherwise. Each group's summary is the mean over its items; every aggregate (model and baselines alike) is
the mean over groups, each group weighted equally, with counts summed, so that one long drive does not outvote the
indoor groups. ATE and the depth scale-ratio spread are per-sequence quantities, averaged over sequences. A metric
without data is ``null``, never 0; the JSON never holds NaN or infinity (:func:`to_jsonable` maps them to ``null``
and the writer uses ``allow_nan=False``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ss3d_core.estimator.geometric_pose import POSE_SOURCES
from ss3d_eval.depth_metrics import aggregate_depth
from ss3d_eval.groups import group_balanced_mean, pose_item_group
from ss3d_eval.intrinsics_metrics import aggregate_intrinsics
from ss3d_eval.pose_metrics import TRANSLATION_NOISE_FLOOR_M, RelativePoseError, aggregate_pose
from ss3d_eval.sequence_runner import SequenceOutcome
from ss3d_eval.statistics import mean_or_none

__all__ = [
    "to_jsonable", "aggregate", "build_report", "write_json", "render_markdown", "write_markdown", "format_value"
]

FIVE_POINT_BASELINES = ("five_point_calibrated", "five_point_guess_k")
# Pose rows scored on the model's GT pairs: the node's two pose sources (the model row is the default one), "no
# motion", then the classical five-point estimates and the SfM teacher (COLMAP's multi-view poses).
POSE_BASELINES = (*POSE_SOURCES, "identity_pose", *FIVE_POINT_BASELINES, "colmap_selfcalib")
# Where SequenceOutcome.baselines keeps a pose baseline's per-pair list when its name holds something else.
_POSE_LIST_KEYS = {"colmap_selfcalib": "colmap_selfcalib_pose"}
# Per-sequence COLMAP fields copied into the report's colmap_selfcalib.per_sequence.
# How the aggregate weighs its items (ss3d_eval.groups); written into every aggregate block.
WEIGHTING = "each group equally (mean over groups of the group's mean over its items)"
_COLMAP_FIELDS = ("status", "reason", "n_images", "n_registered", "models", "seconds", "points_per_image",
                  "median_triangulation_angle_deg")


def to_jsonable(value: Any) -> Any:
    """Recursively convert numpy types, enums and paths to JSON types; NaN/inf become ``None``."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return value


def _pose_list(outcome: SequenceOutcome, name: str) -> list:
    """A pose baseline's per-pair errors in one sequence (aligned with ``outcome.pose``; empty if it did not run)."""
    return outcome.baselines.get(_POSE_LIST_KEYS.get(name, name), [])


def _colmap_aggregate(outcomes: Sequence[SequenceOutcome]) -> dict[str, Any]:
    runs = {o.name: o.result["baselines"]["colmap_selfcalib"] for o in outcomes}
    per_sequence = {
        name: {**{k: run.get(k) for k in _COLMAP_FIELDS},
               "fx_rel_err": (run.get("intrinsics") or {}).get("fx_rel_err"),
               "rot_err_deg": (run.get("pose") or {}).get("rot_err_deg"),
               "tdir_err_deg": (run.get("pose") or {}).get("tdir_err_deg"),
               "n_pairs": (run.get("pose") or {}).get("n_pairs"),
               "n_failed_pairs": (run.get("pose") or {}).get("n_failed_pairs")}
        for name, run in runs.items()
    }
    scored = [o.baselines["colmap_selfcalib"] for o in outcomes if o.baselines.get("colmap_selfcalib")]
    statuses = {run.get("status") for run in runs.values()}
    if scored:
        status = "ok"
    elif statuses == {"unavailable"} or statuses == {"disabled"}:
        status = statuses.pop()
    else:
        status = "no_result"
    reasons = sorted({str(run.get("reason")) for run in runs.values() if run.get("reason")})
    out: dict[str, Any] = {"status": status, "per_sequence": per_sequence}
    if status != "ok":
        out["reason"] = "; ".join(reasons) if reasons else "no sequence with enough frames"
    return out


def _by_group(outcomes: Sequence[SequenceOutcome], items: Callable[[SequenceOutcome], list]) -> dict[str, list]:
    """``{group: items}``: each outcome's items under its sequence's group (:mod:`ss3d_eval.groups`)."""
    groups: dict[str, list] = {}
    for o in outcomes:
        groups.setdefault(_group(o), []).extend(items(o))
    return groups


def _group(outcome: SequenceOutcome) -> str:
    return str(outcome.result["group"])


def _pose_by_group(outcomes: Sequence[SequenceOutcome], errors: Callable[[SequenceOutcome], list]
                   ) -> dict[str, list[RelativePoseError | None]]:
    """``{group: pairs}``: a moving pair under its sequence's group, a static pair under ``static``; a pair without an
    estimate (``None``) under its sequence's group (it is counted, not scored)."""
    groups: dict[str, list[RelativePoseError | None]] = {}
    for o in outcomes:
        for e in errors(o):
            groups.setdefault(_group(o) if e is None else pose_item_group(_group(o), e.moving), []).append(e)
    return groups


def _balanced(per_group: dict[str, dict[str, Any]], empty: dict[str, Any]) -> dict[str, Any]:
    """Group-balanced summary of per-group summaries: counts (``n_*``) summed, every other number averaged over the
    groups that have it, each group weighted equally (:func:`ss3d_eval.groups.group_balanced_mean`). ``empty`` is
    the summary of no item (its keys are always present: ``None`` metrics, zero counts)."""
    keys = list(dict.fromkeys([*empty, *(k for summary in per_group.values() for k in summary)]))
    out: dict[str, Any] = {}
    for key in keys:
        values = [summary.get(key) for summary in per_group.values()]
        if key.startswith("n_"):
            out[key] = sum(int(v or 0) for v in values)
        elif all(v is None or isinstance(v, (int, float)) for v in values):
            out[key] = group_balanced_mean(values)
    out["n_groups"] = sum(1 for summary in per_group.values() if any(
        isinstance(v, float) for k, v in summary.items() if not k.startswith("n_")))
    out["weighting"] = WEIGHTING
    return out


_PAIRED_KEYS = ("n_pairs", "model_rot_err_deg", "baseline_rot_err_deg", "n_tdir_pairs", "model_tdir_err_deg",
                "baseline_tdir_err_deg")


def _paired_with_model(outcomes: Sequence[SequenceOutcome], name: str) -> dict[str, Any]:
    """Model vs a pose baseline on exactly the pairs both scored (the runner keeps the lists aligned), group-balanced
    like the aggregate."""
    per_group: dict[str, dict[str, Any]] = {}
    pairs_by_group: dict[str, list] = {}
    for o in outcomes:
        for m, b in zip(o.pose, _pose_list(o, name)):
            if m is not None and b is not None:
                pairs_by_group.setdefault(pose_item_group(_group(o), m.moving), []).append((m, b))
    for group, pairs in pairs_by_group.items():
        tdir = [(m, b) for m, b in pairs if m.tdir_err_deg is not None and b.tdir_err_deg is not None]
        per_group[group] = {
            "n_pairs": len(pairs),
            "model_rot_err_deg": mean_or_none([m.rot_err_deg for m, _ in pairs]),
            "baseline_rot_err_deg": mean_or_none([b.rot_err_deg for _, b in pairs]),
            "n_tdir_pairs": len(tdir),
            "model_tdir_err_deg": mean_or_none([m.tdir_err_deg for m, _ in tdir]),
            "baseline_tdir_err_deg": mean_or_none([b.tdir_err_deg for _, b in tdir]),
        }
    return _balanced(per_group, dict.fromkeys(_PAIRED_KEYS))


def _depth_groups(outcomes: Sequence[SequenceOutcome], key: str | None) -> dict[str, dict[str, Any]]:
    """Per group, :func:`aggregate_depth` of the model's images (``key=None``) or of a depth baseline's."""
    return {group: aggregate_depth(results) for group, results in _by_group(
        outcomes, (lambda o: o.depth) if key is None else (lambda o: o.baselines[key])).items()
        if any(r is not None for r in results)}


def _pose_groups(outcomes: Sequence[SequenceOutcome], name: str | None) -> dict[str, dict[str, Any]]:
    """Per pose group, :func:`aggregate_pose` of the model's pairs (``name=None``) or of a pose baseline's."""
    return {group: aggregate_pose(errors) for group, errors in _pose_by_group(
        outcomes, (lambda o: o.pose) if name is None else (lambda o: _pose_list(o, name))).items()}


def _intrinsics_groups(outcomes: Sequence[SequenceOutcome], key: str | None) -> dict[str, dict[str, Any]]:
    """Per group, :func:`aggregate_intrinsics` of the model's K (``key=None``) or of an intrinsics baseline's."""
    return {group: aggregate_intrinsics(results) for group, results in _by_group(
        outcomes, (lambda o: [o.intrinsics]) if key is None else (lambda o: [o.baselines.get(key)])).items()
        if any(r is not None for r in results)}


def aggregate(outcomes: Sequence[SequenceOutcome]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(aggregate, baselines, groups)`` sections of the report from per-sequence outcomes (module docstring)."""
    groups = {"depth": _depth_groups(outcomes, None), "pose": _pose_groups(outcomes, None),
              "intrinsics": _intrinsics_groups(outcomes, None)}
    depth = _balanced(groups["depth"], aggregate_depth([]))
    depth["n_sequences"] = sum(1 for o in outcomes if o.result.get("depth") is not None)
    # Scale consistency is a within-sequence property: average the per-sequence spreads rather than pooling ratios
    # of different scenes.
    spreads = [o.result["depth"]["scale_ratio_spread"] for o in outcomes
               if o.result.get("depth") and o.result["depth"].get("scale_ratio_spread") is not None]
    depth["scale_ratio_spread"] = mean_or_none(spreads)
    pose = _balanced(groups["pose"], aggregate_pose([]))
    pose["n_pairs_no_estimate"] = pose.pop("n_skipped_pairs", 0)
    ates = [o.ate.rmse_m for o in outcomes if o.ate is not None and o.ate.rmse_m is not None]
    pose["ate_m"] = mean_or_none(ates)
    pose["n_ate_sequences"] = len(ates)
    intrinsics = _balanced(groups["intrinsics"], aggregate_intrinsics([]))

    constant = _depth_groups(outcomes, "constant_depth")
    baselines: dict[str, Any] = {
        "constant_depth": {"depth": _balanced(constant, aggregate_depth([])), "groups": constant}}
    baselines["constant_depth"]["depth"]["n_sequences"] = depth["n_sequences"]
    for name in POSE_BASELINES:
        per_group = _pose_groups(outcomes, name)
        summary = _balanced(per_group, aggregate_pose([]))
        summary["n_failed_pairs"] = summary.pop("n_skipped_pairs", 0)
        if name in POSE_SOURCES:
            source_ates = [((o.result["baselines"].get(name) or {}).get("pose") or {}).get("ate_m") for o in outcomes]
            summary["ate_m"] = mean_or_none([a for a in source_ates if a is not None])
            summary["n_ate_sequences"] = sum(a is not None for a in source_ates)
        baselines[name] = {"pose": summary, "groups": per_group,
                           "paired_with_model": _paired_with_model(outcomes, name)}
    for name in ("default_k", "corpus_k"):
        per_group = _intrinsics_groups(outcomes, name)
        baselines[name] = {"intrinsics": _balanced(per_group, aggregate_intrinsics([])), "groups": per_group}
    colmap_groups = _intrinsics_groups(outcomes, "colmap_selfcalib")
    baselines["colmap_selfcalib"].update(_colmap_aggregate(outcomes), intrinsics_groups=colmap_groups,
                                         intrinsics=_balanced(colmap_groups, aggregate_intrinsics([])))
    return {"depth": depth, "pose": pose, "intrinsics": intrinsics}, baselines, groups


def _notes(outcomes: Sequence[SequenceOutcome]) -> list[str]:
    notes = []
    distorted = [o.name for o in outcomes if o.result.get("distorted")]
    if distorted:
        notes.append(
            "Images of " + ", ".join(distorted) + " are distorted (calib.yaml distortion) and were evaluated as is "
            "(not undistorted); only five_point_calibrated undistorts its keypoints."
        )
    for o in outcomes:
        depth, pose = o.result.get("depth"), o.result.get("pose")
        if depth:
            notes.append(f"{o.name}: depth cap {depth['cap_m']:g} m ({depth['cap_rule']}).")
        if pose and pose.get("n_tdir_skipped_small_gt_motion"):
            notes.append(
                f"{o.name}: {pose['n_tdir_skipped_small_gt_motion']} pair(s) moved less than "
                f"{pose['noise_floor_m'] * 1e3:g} mm: translation direction undefined, not scored."
            )
        for name in FIVE_POINT_BASELINES:
            failures = ((o.result["baselines"].get(name) or {}).get("pose") or {}).get("failures")
            if failures:
                detail = ", ".join(f"{k}: {v}" for k, v in sorted(failures.items()))
                notes.append(f"{o.name}: {name} failed on {sum(failures.values())} pair(s) ({detail}).")
        ate = (pose or {}).get("ate") or {}
        if ate.get("reason") and ate.get("n_poses", 0) >= 3:
            notes.append(f"{o.name}: no ATE ({ate['reason']}).")
        resets = {k: v for k, v in o.result["estimator"]["counters"].items() if k.startswith("reset_")}
        gap = o.result.get("settings") or {}
        if resets.get("reset_stamp_gap"):
            threshold = f" > {gap['gap_threshold_s']:g} s" if gap.get("gap_threshold_s") else ""
            notes.append(f"{o.name}: the estimator restarted odometry {resets['reset_stamp_gap']} time(s) on a "
                         f"timestamp gap{threshold} (pairs without a model estimate are counted, not scored).")
        floor_s = gap.get("gap_threshold_floor_s")
        if floor_s is not None and gap.get("gap_threshold_s", 0) > floor_s:
            notes.append(f"{o.name}: median frame interval {gap['median_frame_interval_s']:.3g} s; odometry-restart "
                         f"gap threshold raised from {floor_s:g} s to {gap['gap_threshold_s']:.3g} s "
                         f"({gap['gap_threshold_rule']}).")
    return notes


def build_report(
    checkpoint: str,
    outcomes: Sequence[SequenceOutcome],
    settings: dict[str, Any] | None = None,
    failed: dict[str, str] | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (NaN-free).

    Args:
        checkpoint: the checkpoint scored.
        outcomes: one per scored sequence.
        settings: run settings, copied.
        failed: ``{sequence name: reason}`` of the sequences that could not be read (not scored).
        warnings: problems that did not stop the run (an empty sequence, ...).
    """
    agg, baselines, groups = aggregate(outcomes)
    return to_jsonable(
        {
            "checkpoint": str(checkpoint),
            "settings": settings or {},
            "failed": dict(failed or {}),
            "warnings": list(warnings),
            "notes": _notes(outcomes),
            "sequences": {o.name: o.result for o in outcomes},
            "aggregate": agg,
            "groups": groups,
            "baselines": baselines,
        }
    )


def write_json(report: dict[str, Any], path: Path) -> None:
    """Write ``report`` (indented); raises ``ValueError`` if it still holds NaN/inf."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")


# --- Markdown --------------------------------------------------------------------------------------------------
def format_value(value: Any, digits: int = 3) -> str:
    """Table cell text: ``–`` for a missing value, ``digits`` decimals for a float (Python or NumPy), else ``str``."""
    if value is None:
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


_FLOOR_MM = TRANSLATION_NOISE_FLOOR_M * 1e3
_SUMMARY_ROWS = (
    # (label, report section, metric key (None: failure counts), baselines that carry the metric)
    ("AbsRel ↓", "depth", "abs_rel", ("constant_depth",)),
    ("SqRel ↓", "depth", "sq_rel", ("constant_depth",)),
    ("RMSE (m) ↓", "depth", "rmse", ("constant_depth",)),
    ("RMSE log ↓", "depth", "rmse_log", ("constant_depth",)),
    ("δ<1.25 ↑", "depth", "delta1", ("constant_depth",)),
    ("δ<1.25² ↑", "depth", "delta2", ("constant_depth",)),
    ("δ<1.25³ ↑", "depth", "delta3", ("constant_depth",)),
    ("depth images", "depth", "n_images", ("constant_depth",)),
    ("scale ratio std/median ↓", "depth", "scale_ratio_spread", ()),
    ("rotation error (°) ↓", "pose", "rot_err_deg", POSE_BASELINES),
    (f"… moving pairs (GT ≥ {_FLOOR_MM:g} mm) (°) ↓", "pose", "rot_err_deg_moving", POSE_BASELINES),
    (f"… static pairs (GT < {_FLOOR_MM:g} mm) (°) ↓", "pose", "rot_err_deg_static", POSE_BASELINES),
    ("translation direction error (°) ↓", "pose", "tdir_err_deg", POSE_BASELINES),
    ("pairs scored (rotation)", "pose", "n_pairs", POSE_BASELINES),
    ("… moving pairs", "pose", "n_moving_pairs", POSE_BASELINES),
    ("… static pairs", "pose", "n_static_pairs", POSE_BASELINES),
    ("pairs scored (direction)", "pose", "n_tdir_pairs", POSE_BASELINES),
    ("pairs failed / without estimate", "pose", None, POSE_BASELINES),
    ("ATE Sim(3) (m) ↓", "pose", "ate_m", POSE_SOURCES),
    ("fx relative error ↓", "intrinsics", "fx_rel_err", ("default_k", "corpus_k", "colmap_selfcalib")),
    ("fy relative error ↓", "intrinsics", "fy_rel_err", ("default_k", "corpus_k", "colmap_selfcalib")),
    ("cx relative error ↓", "intrinsics", "cx_rel_err", ("default_k", "corpus_k", "colmap_selfcalib")),
    ("cy relative error ↓", "intrinsics", "cy_rel_err", ("default_k", "corpus_k", "colmap_selfcalib")),
    ("sequences (intrinsics)", "intrinsics", "n_sequences", ("default_k", "corpus_k", "colmap_selfcalib")),
)
_BASELINE_COLUMNS = ("constant_depth", *POSE_BASELINES, "default_k", "corpus_k")


def _summary_table(report: dict[str, Any]) -> list[str]:
    lines = ["| metric | model | " + " | ".join(_BASELINE_COLUMNS) + " |", "|---" * (2 + len(_BASELINE_COLUMNS)) + "|"]
    for label, section, key, carriers in _SUMMARY_ROWS:
        model_section = report["aggregate"][section]
        if key is None:
            cells = [format_value(model_section.get("n_pairs_no_estimate"))]
        else:
            cells = [format_value(model_section.get(key))]
        for name in _BASELINE_COLUMNS:
            if name not in carriers:
                cells.append("")
                continue
            data = report["baselines"][name].get(section) or {}
            cells.append(format_value(data.get("n_failed_pairs") if key is None else data.get(key)))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _group_table(report: dict[str, Any]) -> list[str]:
    """One row per group: the model's and the trivial baselines' group means, with the number of items behind each."""
    groups, base = report.get("groups") or {}, report["baselines"]
    header = ("| group | depth images | AbsRel | constant AbsRel | δ<1.25 | pairs | rot (°) | identity rot (°) "
              "| 5pt-cal rot (°) | tdir (°) | 5pt-cal tdir (°) | sequences (K) | fx err | default_k fx err |")
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    names = list(dict.fromkeys(g for section in ("depth", "pose", "intrinsics") for g in groups.get(section, {})))
    for name in names:
        depth = groups.get("depth", {}).get(name) or {}
        pose = groups.get("pose", {}).get(name) or {}
        intr = groups.get("intrinsics", {}).get(name) or {}
        const = (base["constant_depth"].get("groups") or {}).get(name) or {}
        identity = (base["identity_pose"].get("groups") or {}).get(name) or {}
        cal = (base["five_point_calibrated"].get("groups") or {}).get(name) or {}
        guess_k = (base["default_k"].get("groups") or {}).get(name) or {}
        cells = [name, format_value(depth.get("n_images")), format_value(depth.get("abs_rel")),
                 format_value(const.get("abs_rel")), format_value(depth.get("delta1")),
                 format_value(pose.get("n_pairs")), format_value(pose.get("rot_err_deg")),
                 format_value(identity.get("rot_err_deg")), format_value(cal.get("rot_err_deg")),
                 format_value(pose.get("tdir_err_deg"), 2), format_value(cal.get("tdir_err_deg"), 2),
                 format_value(intr.get("n_sequences")), format_value(intr.get("fx_rel_err")),
                 format_value(guess_k.get("fx_rel_err"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def _paired_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| baseline | same pairs | model rot (°) | baseline rot (°) | same pairs (direction) | model tdir (°) "
        "| baseline tdir (°) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in POSE_BASELINES:
        p = report["baselines"][name].get("paired_with_model") or {}
        cells = [name] + [format_value(p.get(key)) for key in _PAIRED_KEYS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _sequence_table(report: dict[str, Any]) -> list[str]:
    header = (
        "| sequence | frames | distorted | cap (m) | AbsRel | δ1 | const AbsRel | rot (°) | tdir (°) | ATE (m) "
        "| identity rot (°) | 5pt-cal rot (°) | 5pt-cal tdir (°) | 5pt-guess rot (°) | fx err | fy err | cx err "
        "| cy err | K source |"
    )
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for name, seq in report["sequences"].items():
        depth = seq.get("depth") or {}
        pose = seq.get("pose") or {}
        intr = seq.get("intrinsics") or {}
        base = seq.get("baselines", {})
        const = (base.get("constant_depth") or {}).get("depth") or {}
        identity = (base.get("identity_pose") or {}).get("pose") or {}
        cal = (base.get("five_point_calibrated") or {}).get("pose") or {}
        guess = (base.get("five_point_guess_k") or {}).get("pose") or {}
        cells = [
            name,
            format_value(seq.get("n_frames")),
            "yes" if seq.get("distorted") else "no",
            format_value(depth.get("cap_m"), 0),
            format_value(depth.get("abs_rel")),
            format_value(depth.get("delta1")),
            format_value(const.get("abs_rel")),
            format_value(pose.get("rot_err_deg"), 2),
            format_value(pose.get("tdir_err_deg"), 1),
            format_value(pose.get("ate_m")),
            format_value(identity.get("rot_err_deg"), 2),
            format_value(cal.get("rot_err_deg"), 2),
            format_value(cal.get("tdir_err_deg"), 1),
            format_value(guess.get("rot_err_deg"), 2),
            format_value(intr.get("fx_rel_err")),
            format_value(intr.get("fy_rel_err")),
            format_value(intr.get("cx_rel_err")),
            format_value(intr.get("cy_rel_err")),
            format_value(intr.get("intrinsics_source")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _colmap_table(report: dict[str, Any]) -> list[str]:
    """One row per sequence of the COLMAP baseline (the SfM teacher): registration, K and pose errors, time."""
    colmap = report["baselines"]["colmap_selfcalib"]
    if colmap["status"] in {"unavailable", "disabled"}:
        return []
    lines = ["| sequence | status | registered / frames | models | fx err | rot (°) | tdir (°) | pairs scored / failed "
             "| seconds | reason |", "|---" * 10 + "|"]
    for name, run in colmap["per_sequence"].items():
        cells = [name, format_value(run.get("status")),
                 f"{format_value(run.get('n_registered'))} / {format_value(run.get('n_images'))}",
                 format_value(run.get("models")), format_value(run.get("fx_rel_err")),
                 format_value(run.get("rot_err_deg"), 3), format_value(run.get("tdir_err_deg"), 2),
                 f"{format_value(run.get('n_pairs'))} / {format_value(run.get('n_failed_pairs'))}",
                 format_value(run.get("seconds"), 1), format_value(run.get("reason")).replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _depth_cue_table(report: dict[str, Any]) -> list[str]:
    """One row per scored depth image: Spearman correlations of the model's depth and of the ground truth with the
    ground truth, brightness and image row (:mod:`ss3d_eval.depth_cues`)."""
    header = "| sequence | frame | model ~ GT | model ~ brightness | GT ~ brightness | model ~ row | GT ~ row |"
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for name, seq in report["sequences"].items():
        for image in (seq.get("depth") or {}).get("per_image", []):
            cues = image.get("cues")
            if not cues:
                continue
            model, truth = cues["model"], cues["ground_truth"]
            cells = [name, str(image["frame"]), format_value(model["with_gt"], 2),
                     format_value(model["with_brightness"], 2), format_value(truth["with_brightness"], 2),
                     format_value(model["with_row"], 2), format_value(truth["with_row"], 2)]
            lines.append("| " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def render_markdown(report: dict[str, Any], figures: Sequence[str] = ()) -> str:
    """Markdown summary: model vs baselines per metric, per-sequence rows, notes and figure links."""
    colmap = report["baselines"]["colmap_selfcalib"]
    lines = [
        "# SS3D unified evaluation",
        "",
        f"Checkpoint: `{report['checkpoint']}`",
        "",
        "Depth: per-image median scaling (monodepth2 protocol). Pose: consecutive pairs; translation direction only "
        "(monocular); ATE after Sim(3) alignment (evo). identity_pose predicts no motion: its rotation error is the "
        "ground-truth inter-frame rotation and its translation direction is undefined. Intrinsics: relative error at "
        "the calibration resolution. – = no data.",
        "",
        "## Model vs baselines",
        "",
        f"Aggregates weigh {WEIGHTING}; counts are summed. Groups come from the data (ss3d_eval.groups): a "
        "sequence's calib.yaml `group`, else the leading letters of its name (the dataset); pose pairs at rest form "
        "the `static` group.",
        "",
        *_summary_table(report),
        "",
        "### Per group",
        "",
        *_group_table(report),
        "",
        f"colmap_selfcalib: {colmap['status']}" + (f" ({colmap['reason']})" if colmap.get("reason") else ""),
        "",
        "### Ego-motion on the same pairs (pairs where both the model and the baseline produced a motion)",
        "",
        *_paired_table(report),
        "",
        "## Per sequence",
        "",
        *_sequence_table(report),
        "",
    ]
    colmap_rows = _colmap_table(report)
    if colmap_rows:
        lines += ["## COLMAP, the SfM teacher, per sequence", "",
                  "The training corpus's COLMAP settings (ss3d_core.sfm) on the first frames of each sequence; pose "
                  "errors on the model's GT pairs, a pair with an unregistered frame counts as failed.", "",
                  *colmap_rows, ""]
    cue_rows = _depth_cue_table(report)
    if cue_rows:
        lines += [
            "## Depth cues (Spearman rank correlation on the scored pixels)",
            "",
            "A model whose depth follows brightness or the image row with the opposite sign of the ground truth uses "
            "a shortcut this scene does not obey (row 0 is the image top).",
            "",
            *cue_rows,
            "",
        ]
    not_scored = [f"- {name}: failed, {reason}" for name, reason in (report.get("failed") or {}).items()]
    not_scored += [f"- {warning}" for warning in report.get("warnings") or ()]
    if not_scored:
        lines += ["## Sequences not scored", "", *not_scored, ""]
    if report.get("notes"):
        lines += ["## Notes", "", *[f"- {note}" for note in report["notes"]], ""]
    if figures:
        lines += ["## Figures", "", *[f"![{Path(f).stem}]({f})" for f in figures], ""]
    return "\n".join(lines)


def write_markdown(report: dict[str, Any], path: Path, figures: Sequence[str] = ()) -> None:
    """Write :func:`render_markdown` to ``path``; ``figures`` are paths relative to the Markdown file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(report, figures))
