"""``python -m training targets``: the quality targets of the shipped checkpoint, read from ``ss3d_eval`` reports,
one column per checkpoint (e.g. the untrained network, the shipped checkpoint, a new run, ablation arms).

Each target is measured against a trivial baseline of the same ``ss3d_eval`` run (``baselines`` of the report, so
every column is judged against the baseline computed on exactly the frames it was scored on):

- depth AbsRel (median-scaled, Eigen et al. 2014) of each depth group at most :data:`DEPTH_RATIO` × the
  constant-depth baseline's; the groups come from the data (:func:`ss3d_eval.groups.sequence_group`: TUM, NYU v2, DGP
  and KITTI LiDAR with today's sequences), each pooled over its images;
- rotation error (geodesic angle of ``R_estᵀ R_gt`` per frame pair, degrees) below the identity ("no motion")
  baseline on the KITTI odometry sequence and on the TUM pairs with ground-truth motion (``rot_err_deg_moving``,
  pooled over pairs);
- translation-direction error on the KITTI odometry sequence at most :data:`KITTI_TDIR_MAX_DEG`;
- fx relative error at most :data:`FX_REL_ERR_MAX` on the aggregate (groups weighted equally; the generic-guess
  baseline, ``default_k``, is shown for reference) and at most :data:`FX_REL_ERR_MAX_SEQUENCE` on every sequence.

The aggregate metrics the adoption rule reads (:mod:`training.pipeline.adoption`) are listed under the targets.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ss3d_eval.groups import reported_group

__all__ = ["DEPTH_RATIO", "FX_REL_ERR_MAX", "FX_REL_ERR_MAX_SEQUENCE", "KITTI_TDIR_MAX_DEG", "Target",
           "depth_groups", "evaluate_targets", "pooled", "targets_markdown"]

DEPTH_RATIO = 0.85
KITTI_SEQUENCE = "kitti_odom_gray_51"
TUM_GROUP = "tum"
KITTI_TDIR_MAX_DEG = 3.0
FX_REL_ERR_MAX = 0.10
# No single camera's focal length may be further off than this (issue 33: one camera, one focal length).
FX_REL_ERR_MAX_SEQUENCE = 0.20


@dataclass(frozen=True)
class Target:
    """One row: ``value`` of the checkpoint, ``bound`` it must stay at or under (``strict``: under), ``met``.

    ``value`` or ``bound`` is ``None`` when the report has no such measurement; such a target is not met.
    """

    name: str
    value: float | None
    bound: float | None
    strict: bool
    met: bool


def depth_groups(report: dict) -> list[str]:
    """The groups (from the data) that hold at least one sequence with depth, in order of first appearance."""
    return list(dict.fromkeys(reported_group(name, sequence) for name, sequence in report.get("sequences", {}).items()
                              if sequence.get("depth")))


def pooled(report: dict, select: Callable[[str, dict], bool], section: str, metric: str, weight: str,
           baseline: str | None = None) -> float | None:
    """Weighted mean of ``sequences.<name>.[baselines.<baseline>.]<section>.<metric>`` over the sequences for which
    ``select(name, sequence)`` holds, each weighted by the checkpoint's own ``<section>.<weight>`` (image or pair
    count)."""
    total = weights = 0.0
    for name, sequence in report.get("sequences", {}).items():
        if not select(name, sequence):
            continue
        own = sequence.get(section) or {}
        source = ((sequence.get("baselines") or {}).get(baseline) or {}).get(section) if baseline else own
        value, n = (source or {}).get(metric), own.get(weight)
        if value is None or not n:
            continue
        total += value * n
        weights += n
    return total / weights if weights else None


def in_group(group: str) -> Callable[[str, dict], bool]:
    """Selector of :func:`pooled`: the sequences of ``group``."""
    return lambda name, sequence: reported_group(name, sequence) == group


def named(sequence_name: str) -> Callable[[str, dict], bool]:
    """Selector of :func:`pooled`: the one sequence called ``sequence_name``."""
    return lambda name, _sequence: name == sequence_name


def _max_fx_error(report: dict) -> float | None:
    values = [(s.get("intrinsics") or {}).get("fx_rel_err") for s in report.get("sequences", {}).values()]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _target(name: str, value: float | None, bound: float | None, strict: bool) -> Target:
    met = value is not None and bound is not None and (value < bound if strict else value <= bound)
    return Target(name, value, bound, strict, met)


def evaluate_targets(report: dict) -> list[Target]:
    """The targets (module docstring) of one parsed ``ss3d_eval`` ``report.json``."""
    targets = []
    for group in depth_groups(report):
        constant = pooled(report, in_group(group), "depth", "abs_rel", "n_images", "constant_depth")
        targets.append(_target(f"{group} depth AbsRel ≤ {DEPTH_RATIO} × constant depth",
                               pooled(report, in_group(group), "depth", "abs_rel", "n_images"),
                               None if constant is None else DEPTH_RATIO * constant, strict=False))
    kitti = named(KITTI_SEQUENCE)
    targets.append(_target("KITTI rotation (°) < identity", pooled(report, kitti, "pose", "rot_err_deg", "n_pairs"),
                           pooled(report, kitti, "pose", "rot_err_deg", "n_pairs", "identity_pose"), strict=True))
    tum = in_group(TUM_GROUP)
    targets.append(_target("TUM moving-pair rotation (°) < identity",
                           pooled(report, tum, "pose", "rot_err_deg_moving", "n_moving_pairs"),
                           pooled(report, tum, "pose", "rot_err_deg_moving", "n_moving_pairs", "identity_pose"),
                           strict=True))
    targets.append(_target(f"KITTI translation direction (°) ≤ {KITTI_TDIR_MAX_DEG:g}",
                           pooled(report, kitti, "pose", "tdir_err_deg", "n_tdir_pairs"),
                           KITTI_TDIR_MAX_DEG, strict=False))
    targets.append(_target(f"fx relative error ≤ {FX_REL_ERR_MAX:g}",
                           (report.get("aggregate", {}).get("intrinsics") or {}).get("fx_rel_err"),
                           FX_REL_ERR_MAX, strict=False))
    targets.append(_target(f"worst sequence's fx relative error ≤ {FX_REL_ERR_MAX_SEQUENCE:g}",
                           _max_fx_error(report), FX_REL_ERR_MAX_SEQUENCE, strict=False))
    return targets


AGGREGATES: tuple[tuple[str, Callable[[dict], float | None]], ...] = (
    ("aggregate depth AbsRel", lambda r: (r["aggregate"].get("depth") or {}).get("abs_rel")),
    ("aggregate rotation (°)", lambda r: (r["aggregate"].get("pose") or {}).get("rot_err_deg")),
    ("aggregate translation direction (°)", lambda r: (r["aggregate"].get("pose") or {}).get("tdir_err_deg")),
    ("aggregate fx relative error", lambda r: (r["aggregate"].get("intrinsics") or {}).get("fx_rel_err")),
)


def _cell(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def targets_markdown(reports: dict[str, dict]) -> str:
    """A Markdown table: one row per target (``value / bound ✓|✗`` in each checkpoint's column) and per aggregate
    metric, one column per ``name -> parsed report``.

    Raises:
        ValueError: no reports.
    """
    if not reports:
        raise ValueError("no reports to tabulate")
    evaluated = {name: {t.name: t for t in evaluate_targets(report)} for name, report in reports.items()}
    names = list(reports)
    rows = list(dict.fromkeys(target for targets in evaluated.values() for target in targets))
    lines = ["| target | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for row in rows:
        cells = ["not measured" if (t := evaluated[name].get(row)) is None else
                 f"{_cell(t.value)} / {_cell(t.bound)} {'✓' if t.met else '✗'}" for name in names]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    for label, read in AGGREGATES:
        lines.append(f"| {label} | " + " | ".join(_cell(read(reports[name])) for name in names) + " |")
    met = [sum(t.met for t in evaluated[name].values()) for name in names]
    lines.append("| targets met | " + " | ".join(f"{m} / {len(rows)}" for m in met) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m training targets --report NAME=REPORT_JSON ... [--output FILE]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m training targets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="append", required=True, metavar="NAME=REPORT_JSON",
                        help="an ss3d_eval report.json and its column name (repeatable, in column order)")
    parser.add_argument("--output", type=Path, help="write the table here (Markdown) as well as to stdout")
    args = parser.parse_args(argv)
    reports = {}
    for item in args.report:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--report {item!r}: expected NAME=REPORT_JSON")
        try:
            reports[name] = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            parser.error(f"--report {item!r}: {err}")
    table = targets_markdown(reports)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
