"""The adoption rule of ``make train``, applied to two ``ss3d_eval`` reports with paired bootstrap intervals.

The candidate replaces the shipped checkpoint only if

- on the aggregate (every group weighted equally, :mod:`ss3d_eval.groups`), its depth AbsRel, the rotation error of
  the network's own pose (the ``network`` row, whatever the node's default ``pose_source``) and its fx relative error
  are all **resolved better**: the 95 % interval of ``candidate - shipped`` lies entirely below 0
  (:func:`ss3d_eval.compare.compare_reports`: paired per image, per pair and per sequence, resampled within
  sequences); and
- no depth group (from the data: TUM, NYU v2, DGP, KITTI LiDAR today) is **resolved worse by more than**
  :data:`MAX_GROUP_LOSS`: the interval of its relative difference must not lie entirely above +5 % (issue 26: a
  better aggregate must not hide a worse kind of scene). A group too small for an interval is judged by its point
  value.

Nothing is adopted on evidence that is not there: a metric without paired items fails the rule. Rules written before
2026-12-07 (``student_distill.yaml``, ``sfm_k_student.yaml``) compared point values of a 9-image dev set; their
verdicts stand as recorded for their runs (docs/experiments.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ss3d_eval.compare import N_RESAMPLES, compare_reports

# (compared metric of ss3d_eval.compare, what it must do) on the aggregate: resolved lower.
RULE = ("depth.abs_rel", "network.pose.rot_err_deg", "intrinsics.fx_rel_err")
# A depth group's AbsRel may not be resolved more than this fraction above the shipped checkpoint's (5 %).
MAX_GROUP_LOSS = 0.05
DEPTH_METRIC = "depth.abs_rel"


@dataclass(frozen=True)
class Verdict:
    """Whether the candidate is adopted, and one line per judged quantity (``... : ok|fails``)."""

    adopt: bool
    lines: tuple[str, ...]

    def markdown(self) -> str:
        """The verdict as a short Markdown text."""
        head = "**Adopt**" if self.adopt else "**Keep the shipped checkpoint**"
        rule = (f"rule: training/pipeline/adoption.py, paired bootstrap intervals ({N_RESAMPLES} resamples, "
                "ss3d_eval.compare)")
        return "\n".join([f"{head} ({rule})", "", *[f"- {x}" for x in self.lines]])


def _ci_text(ci: list[float] | tuple[float, float] | None) -> str:
    return "no interval" if ci is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def adoption_verdict(candidate: dict, shipped: dict) -> Verdict:
    """Apply the rule (module docstring) to two parsed ``report.json`` files with per-item results.

    Raises:
        ValueError: a report without ``sequences`` (not an ``ss3d_eval`` report).
    """
    metrics = compare_reports(candidate, shipped)["metrics"]
    adopt, lines = True, []
    for name in RULE:
        agg = metrics[name]["aggregate"]
        ok = agg is not None and agg["ci"] is not None and agg["ci"][1] < 0.0
        adopt &= ok
        text = ("no paired items" if agg is None else
                f"{agg['new']:.4f} vs shipped {agg['old']:.4f}, difference {agg['diff']:+.4f} {_ci_text(agg['ci'])}")
        lines.append(f"aggregate {name}: {text} (interval must lie below 0): {'ok' if ok else 'fails'}")
    for group, d in metrics[DEPTH_METRIC]["groups"].items():
        if d["rel_ci"] is not None:
            worse = d["rel_ci"][0] > MAX_GROUP_LOSS
            how = f"relative {d['rel_diff']:+.3f} {_ci_text(d['rel_ci'])}"
        else:
            worse = d["rel_diff"] is None or d["rel_diff"] > MAX_GROUP_LOSS
            how = f"relative {d['rel_diff']} ({d['note'] or 'no interval'}: point value judged)"
        adopt &= not worse
        lines.append(f"{group} depth abs_rel over {d['n_items']} images: {how} (not resolved above "
                     f"+{MAX_GROUP_LOSS:.0%}): {'fails' if worse else 'ok'}")
    if not metrics[DEPTH_METRIC]["groups"]:
        adopt = False
        lines.append("depth groups: no paired images: fails")
    return Verdict(adopt, tuple(lines))


def write_verdict(candidate_report: Path, shipped_report: Path, output: Path) -> Verdict:
    """Read both ``report.json`` files, write the verdict as ``output`` (Markdown) and return it.

    Raises:
        FileNotFoundError: a report is missing. json.JSONDecodeError: a report is not JSON. ValueError: a report
        without ``sequences``.
    """
    verdict = adoption_verdict(json.loads(Path(candidate_report).read_text()),
                               json.loads(Path(shipped_report).read_text()))
    output.write_text(verdict.markdown() + "\n")
    return verdict
