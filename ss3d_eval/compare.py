"""Paired comparison of two ``ss3d_eval`` reports with bootstrap confidence intervals (``ss3d_eval --compare``).

Two checkpoints scored on the same sequences are compared **item by item**: the same depth image (AbsRel, δ<1.25),
the same consecutive pair (rotation error, translation-direction error), the same sequence (fx relative error). Only
items that both reports scored enter. For each metric and group (:mod:`ss3d_eval.groups`) the difference is
``mean(new) - mean(old)`` over the group's paired items, and the relative difference divides it by ``mean(old)``; the
aggregate is the mean of the group differences over the groups with an interval (below), each weighted equally as in
the report's aggregate.

Method: a stratified, paired bootstrap (Efron & Tibshirani 1993, ch. 13) with :data:`N_RESAMPLES` resamples and a fixed
seed (:data:`SEED`: the same two reports always give the same intervals). Items are resampled **within their
sequence** (a stratum), the new and old value of an item always together (paired). Consecutive frames of one video are
correlated, so a sequence is resampled in circular blocks of ``round(n ** (1/3))`` consecutive items (the block
length rule of Hall, Horowitz & Jing 1995; 1 for fewer than 4 items, i.e. plain resampling); sequences that hold a
single item of the group are pooled into one stratum of exchangeable items (resampling a one-item stratum would give
no spread at all). Intrinsics items are whole sequences, one stratum per group. Each resample recomputes every group's
difference and the aggregate; the interval is the percentile interval at :data:`CONFIDENCE`.

A group with fewer than :data:`MIN_ITEMS_FOR_INTERVAL` paired items gets no interval (``ci: null``, its ``note``
says why) and is **left out of the aggregate**, whose ``note`` names it: two TUM pairs that changed by 0.8° would
otherwise decide a rotation verdict with a spread that two items cannot show. Groups with fewer than
:data:`FEW_ITEMS` carry a ``few_items`` flag, as percentile intervals of so few items are too narrow (they
under-cover). A difference is **resolved** when its interval excludes 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ss3d_eval.groups import group_balanced_mean, pose_item_group, reported_group

__all__ = ["N_RESAMPLES", "CONFIDENCE", "SEED", "MIN_ITEMS_FOR_INTERVAL", "FEW_ITEMS", "Metric", "METRICS",
           "Difference", "MetricComparison", "paired_items", "compare_metric", "compare_reports",
           "comparison_markdown"]

# Bootstrap resamples: 2000 keeps the Monte-Carlo error of a 95 % percentile bound well below its sampling error
# (Efron & Tibshirani 1993, §19.3 suggest >= 1000 for percentile intervals).
N_RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0
# Fewest paired items in a group for an interval: with 1 item every resample is the same, with 2 the percentile
# interval is just the two values.
MIN_ITEMS_FOR_INTERVAL = 3
# Below this many items a percentile interval is flagged as too narrow (bootstrap under-coverage at small n).
FEW_ITEMS = 10
# Stratum name of a group's single-item sequences (pooled, exchangeable).
SINGLES_STRATUM = "(single-item sequences)"


@dataclass(frozen=True)
class Metric:
    """One compared metric: the per-item ``key`` of ``report.sequences.<name>.<section>``, or of
    ``report.sequences.<name>.baselines.<row>.<section>`` when ``row`` is set (a pose source's own row); a report
    written before that row existed has only the model's row, which was the network's, and is read there.
    ``name`` is ``[<row>.]<section>.<key>``."""

    section: str
    key: str
    label: str
    lower_is_better: bool = True
    row: str | None = None

    @property
    def name(self) -> str:
        """``[<row>.]<section>.<key>``, the key of :func:`compare_reports`'s ``metrics``."""
        return f"{self.row + '.' if self.row else ''}{self.section}.{self.key}"


# The model's pose row is the node's configured pose source (pose_source); the network's own pose has its row, which
# is what training changes and what the adoption rule judges.
NETWORK_ROW = "network"
METRICS = (
    Metric("depth", "abs_rel", "depth AbsRel"),
    Metric("depth", "delta1", "depth δ<1.25", lower_is_better=False),
    Metric("pose", "rot_err_deg", "rotation error (°), the configured pose source"),
    Metric("pose", "tdir_err_deg", "translation direction error (°), the configured pose source"),
    Metric("pose", "rot_err_deg", "rotation error (°), the network's own pose", row=NETWORK_ROW),
    Metric("pose", "tdir_err_deg", "translation direction error (°), the network's own pose", row=NETWORK_ROW),
    Metric("intrinsics", "fx_rel_err", "fx relative error"),
)


@dataclass(frozen=True)
class Difference:
    """``new - old`` of one group (or of the aggregate), with its bootstrap interval.

    Attributes:
        n_items: paired items (for the aggregate: summed over groups).
        old, new: the means over the paired items (aggregate: group-balanced means).
        diff: ``new - old``; ``ci``: its ``(low, high)`` percentile interval, ``None`` without one.
        rel_diff: ``diff / old``; ``rel_ci`` its interval; ``None`` when ``old`` is 0.
        resolved: ``ci`` exists and excludes 0. ``verdict``: ``better``, ``worse`` (resolved, in the metric's sense),
            ``unresolved`` or ``no interval``.
        few_items: fewer than :data:`FEW_ITEMS` items (the interval is too narrow). ``note``: why there is no interval.
    """

    n_items: int
    old: float
    new: float
    diff: float
    ci: tuple[float, float] | None
    rel_diff: float | None
    rel_ci: tuple[float, float] | None
    resolved: bool
    verdict: str
    few_items: bool
    note: str | None = None


@dataclass(frozen=True)
class MetricComparison:
    """Per-group and aggregate :class:`Difference` of one :class:`Metric` (``aggregate`` is ``None`` without items)."""

    metric: Metric
    groups: dict[str, Difference] = field(default_factory=dict)
    aggregate: Difference | None = None


def _sequence_items(name: str, sequence: dict[str, Any], metric: Metric) -> Iterator[tuple[str, Any, float]]:
    """``(group, item key, value)`` of one sequence of a report for ``metric`` (items without a value are left out)."""
    group = reported_group(name, sequence)
    rows = sequence.get("baselines") or {}
    source = rows[metric.row] if metric.row and metric.row in rows else sequence
    section = (source or {}).get(metric.section) or {}
    if metric.section == "depth":
        for image in section.get("per_image") or ():
            if image.get(metric.key) is not None:
                yield group, int(image["frame"]), float(image[metric.key])
    elif metric.section == "pose":
        for pair in section.get("per_pair") or ():
            if not pair.get("no_estimate") and pair.get(metric.key) is not None:
                pair_group = pose_item_group(group, bool(pair.get("moving", True)))
                yield pair_group, int(pair["frame"]), float(pair[metric.key])
    elif section.get(metric.key) is not None:
        yield group, None, float(section[metric.key])


def paired_items(new: dict[str, Any], old: dict[str, Any], metric: Metric
                 ) -> dict[str, dict[str, list[tuple[Any, float, float]]]]:
    """The items both reports scored, as ``{group: {stratum: [(item key, new value, old value)]}}``.

    Depth and pose items are keyed by frame within their sequence (the stratum is the sequence; a group's single-item
    sequences are pooled into one stratum); intrinsics items are whole sequences (one stratum per group). Items are
    in frame order within a stratum (the block bootstrap relies on it). An item whose group differs between the two
    reports (a pair that is static in one report only cannot happen: both score the same ground truth) is paired
    under the new report's group.

    Raises:
        ValueError: a report without ``sequences``.
    """
    for label, report in (("new", new), ("old", old)):
        if not isinstance(report.get("sequences"), dict):
            raise ValueError(f"the {label} report has no 'sequences' section: not an ss3d_eval report.json")
    groups: dict[str, dict[str, list[tuple[Any, float, float]]]] = {}
    for name, sequence in new["sequences"].items():
        if name not in old["sequences"]:
            continue
        olds = {key: value for _, key, value in _sequence_items(name, old["sequences"][name], metric)}
        for group, key, value in _sequence_items(name, sequence, metric):
            if key in olds:
                stratum = group if metric.section == "intrinsics" else name
                groups.setdefault(group, {}).setdefault(stratum, []).append(
                    ((name, key) if key is not None else name, value, olds[key]))
    if metric.section != "intrinsics":
        for group, strata in groups.items():
            singles = [item for items in strata.values() if len(items) == 1 for item in items]
            if len(singles) > 1:
                groups[group] = {stratum: items for stratum, items in strata.items() if len(items) > 1}
                groups[group][SINGLES_STRATUM] = singles
    return groups


def block_length(n_items: int) -> int:
    """Circular-block length for ``n_items`` consecutive items: ``max(1, round(n ** (1/3)))`` (Hall et al. 1995)."""
    return max(1, round(n_items ** (1.0 / 3.0)))


def _resample_indices(rng: np.random.Generator, n_items: int, block: int, n_resamples: int) -> np.ndarray:
    """``n_resamples × n_items`` indices of a circular block bootstrap (``block = 1``: plain resampling)."""
    n_blocks = math.ceil(n_items / block)
    starts = rng.integers(0, n_items, size=(n_resamples, n_blocks))
    indices = (starts[:, :, None] + np.arange(block)[None, None, :]) % n_items
    return indices.reshape(n_resamples, n_blocks * block)[:, :n_items]


def _interval(samples: np.ndarray) -> tuple[float, float]:
    tail = 100.0 * (1.0 - CONFIDENCE) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def _verdict(ci: tuple[float, float] | None, lower_is_better: bool) -> tuple[bool, str]:
    if ci is None:
        return False, "no interval"
    if ci[0] <= 0.0 <= ci[1]:
        return False, "unresolved"
    improved = (ci[1] < 0.0) if lower_is_better else (ci[0] > 0.0)
    return True, "better" if improved else "worse"


def _diff_and_relative(new_means: np.ndarray, old_means: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Resampled ``new - old`` and ``(new - old) / old`` (``None`` when a resampled old mean is 0)."""
    diff = new_means - old_means
    if np.any(old_means <= 0):
        return diff, None
    return diff, diff / old_means


def _difference(n: int, old: float, new: float, diff_samples: np.ndarray | None, rel_samples: np.ndarray | None,
                lower_is_better: bool, note: str | None = None) -> Difference:
    """A :class:`Difference` from its point values and resamples (``None``: no interval)."""
    ci = _interval(diff_samples) if diff_samples is not None else None
    rel_ci = _interval(rel_samples) if rel_samples is not None and ci is not None else None
    resolved, verdict = _verdict(ci, lower_is_better)
    return Difference(n_items=n, old=old, new=new, diff=new - old, ci=ci, rel_diff=(new - old) / old if old else None,
                      rel_ci=rel_ci, resolved=resolved, verdict=verdict, few_items=n < FEW_ITEMS, note=note)


def compare_metric(new: dict[str, Any], old: dict[str, Any], metric: Metric, n_resamples: int = N_RESAMPLES,
                   seed: int = SEED) -> MetricComparison:
    """Paired group and aggregate differences of one metric with their bootstrap intervals (module docstring).

    Args:
        new, old: parsed ``report.json`` files (``new`` is the candidate).
        metric: what to compare.
        n_resamples: bootstrap resamples. seed: the generator's seed (fixed: deterministic intervals).

    Raises:
        ValueError: a report without ``sequences``; ``n_resamples < 1``.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    groups: dict[str, Difference] = {}
    old_means: dict[str, np.ndarray] = {}  # per group: the resampled old and new means, for the aggregate
    new_means: dict[str, np.ndarray] = {}
    for group, strata in sorted(paired_items(new, old, metric).items()):
        values = [(np.array([v[1] for v in items]), np.array([v[2] for v in items])) for items in strata.values()]
        new_all, old_all = np.concatenate([v[0] for v in values]), np.concatenate([v[1] for v in values])
        n, old_mean, new_mean = new_all.size, float(old_all.mean()), float(new_all.mean())
        if n < MIN_ITEMS_FOR_INTERVAL:
            # No interval, and not in the aggregate's: so few items would lend it a certainty they cannot give.
            note = (f"{n} paired item(s): too few for an interval (at least {MIN_ITEMS_FOR_INTERVAL}); left out of "
                    "the aggregate")
            groups[group] = _difference(n, old_mean, new_mean, None, None, metric.lower_is_better, note)
            continue
        sum_new, sum_old = np.zeros(n_resamples), np.zeros(n_resamples)
        for stratum, (stratum_new, stratum_old) in zip(strata, values):
            ordered = metric.section != "intrinsics" and stratum != SINGLES_STRATUM
            block = block_length(stratum_new.size) if ordered else 1
            idx = _resample_indices(rng, stratum_new.size, block, n_resamples)
            sum_new += stratum_new[idx].sum(axis=1)
            sum_old += stratum_old[idx].sum(axis=1)
        old_means[group], new_means[group] = sum_old / n, sum_new / n
        groups[group] = _difference(n, old_mean, new_mean, *_diff_and_relative(new_means[group], old_means[group]),
                                    metric.lower_is_better)
    if not groups:
        return MetricComparison(metric)
    left_out = [g for g, d in groups.items() if d.ci is None]
    if not old_means:
        aggregate = _difference(sum(d.n_items for d in groups.values()), group_balanced_mean(
            d.old for d in groups.values()), group_balanced_mean(d.new for d in groups.values()), None, None,
            metric.lower_is_better, "no group has enough items for an interval")
        return MetricComparison(metric, groups, aggregate)
    judged = [groups[g] for g in old_means]
    old_agg = np.mean(list(old_means.values()), axis=0)
    new_agg = np.mean(list(new_means.values()), axis=0)
    note = f"over {', '.join(old_means)}; left out (too few items): {', '.join(left_out)}" if left_out else None
    aggregate = _difference(sum(d.n_items for d in judged), group_balanced_mean(d.old for d in judged),
                            group_balanced_mean(d.new for d in judged), *_diff_and_relative(new_agg, old_agg),
                            metric.lower_is_better, note)
    return MetricComparison(metric, groups, aggregate)


def compare_reports(new: dict[str, Any], old: dict[str, Any], n_resamples: int = N_RESAMPLES,
                    seed: int = SEED) -> dict[str, Any]:
    """Every metric of :data:`METRICS` compared (:func:`compare_metric`), as a JSON-ready dict.

    Returns:
        ``{"method": str, "n_resamples", "confidence", "seed", "new": checkpoint, "old": checkpoint,
        "metrics": {"[<row>.]<section>.<key>": {"label", "lower_is_better", "groups": {group: Difference},
        "aggregate": Difference | None}}}`` (each Difference as a dict; the aggregate is over the groups with an
        interval, its relative difference is ``diff / old`` of the group-balanced means).
    """
    out: dict[str, Any] = {
        "method": ("stratified paired bootstrap: items resampled within their sequence (circular blocks of "
                   "round(n^(1/3)) consecutive items; single-item sequences of a group pooled), percentile "
                   "interval; aggregate = mean over the groups with at least "
                   f"{MIN_ITEMS_FOR_INTERVAL} paired items, each group weighted equally"),
        "n_resamples": n_resamples, "confidence": CONFIDENCE, "seed": seed,
        "new": new.get("checkpoint"), "old": old.get("checkpoint"), "metrics": {},
    }
    for metric in METRICS:
        result = compare_metric(new, old, metric, n_resamples, seed)
        out["metrics"][metric.name] = {
            "label": metric.label, "lower_is_better": metric.lower_is_better,
            "groups": {g: asdict(d) for g, d in result.groups.items()},
            "aggregate": asdict(result.aggregate) if result.aggregate else None,
        }
    return out


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def _ci(ci: tuple[float, float] | list[float] | None, digits: int) -> str:
    return "–" if ci is None else f"[{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]"


def comparison_markdown(comparison: dict[str, Any]) -> str:
    """:func:`compare_reports`'s result as Markdown: one table per metric, a row per group and the aggregate."""
    lines = ["# Paired comparison", "", f"new: `{comparison['new']}`  ", f"old: `{comparison['old']}`", "",
             f"Method: {comparison['method']}; {comparison['n_resamples']} resamples, seed {comparison['seed']}, "
             f"{comparison['confidence']:.0%} intervals. `resolved` = the interval excludes 0; `*` = fewer than "
             f"{FEW_ITEMS} items (the interval is too narrow).", ""]
    for data in comparison["metrics"].values():
        lines += [f"## {data['label']} ({'lower' if data['lower_is_better'] else 'higher'} is better)", "",
                  "| group | items | old | new | new − old [95 % CI] | relative [95 % CI] | verdict |",
                  "|---|---|---|---|---|---|---|"]
        rows = [*data["groups"].items(), *([("**aggregate**", data["aggregate"])] if data["aggregate"] else [])]
        for name, d in rows:
            flag = "*" if d["few_items"] else ""
            lines.append(f"| {name} | {d['n_items']}{flag} | {d['old']:.4f} | {d['new']:.4f} | "
                         f"{_fmt(d['diff'], 4)} {_ci(d['ci'], 4)} | {_fmt(d['rel_diff'], 3)} {_ci(d['rel_ci'], 3)} | "
                         f"{d['verdict']}{' (' + d['note'] + ')' if d.get('note') else ''} |")
        lines.append("")
    return "\n".join(lines)
