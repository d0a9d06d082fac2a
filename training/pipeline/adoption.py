"""The adoption rule of ``make train`` (written in ``training/configs/student_distill.yaml`` before the final run),
applied to two ``ss3d_eval`` reports: the new checkpoint replaces the shipped one only if, on the aggregate over the
evaluation sequences, its depth AbsRel, its rotation error and its fx error are all lower, and on no depth group
(:data:`training.targets.DEPTH_GROUPS`: TUM, NYU v2, DGP) its AbsRel is more than :data:`MAX_GROUP_LOSS` higher than
the shipped checkpoint's (issue 26: a better aggregate must not hide a worse kind of scene).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from training.pipeline.targets import DEPTH_GROUPS, pooled

# (report section, metric, what it must do) on the aggregate: AbsRel, rotation error and fx error must all improve.
RULE = (("depth", "abs_rel", "lower"), ("pose", "rot_err_deg", "lower"), ("intrinsics", "fx_rel_err", "lower"))
# A depth group's AbsRel may be at most this fraction above the shipped checkpoint's (5 %).
MAX_GROUP_LOSS = 0.05


@dataclass(frozen=True)
class Verdict:
    """Whether the candidate is adopted, and one line per metric of :data:`RULE` (``candidate vs shipped: ok|fails``).
    """

    adopt: bool
    lines: tuple[str, ...]

    def markdown(self) -> str:
        """The verdict as a short Markdown text."""
        head = "**Adopt**" if self.adopt else "**Keep the shipped checkpoint**"
        return "\n".join([f"{head} (rule: training/configs/student_distill.yaml)", "", *[f"- {x}" for x in self.lines]])


def adoption_verdict(candidate: dict, shipped: dict) -> Verdict:
    """Apply the rule to two ``ss3d_eval`` reports (the parsed ``report.json``: ``aggregate.<section>.<metric>``).

    A metric missing (``None``) from either report fails the rule: nothing is adopted on evidence that is not there.
    """
    adopt, lines = True, []
    for section, metric, need in RULE:
        new = (candidate.get("aggregate", {}).get(section) or {}).get(metric)
        old = (shipped.get("aggregate", {}).get(section) or {}).get(metric)
        ok = new is not None and old is not None and new < old
        adopt &= ok
        lines.append(f"{section} {metric}: {new} vs shipped {old} (must be {need}): {'ok' if ok else 'fails'}")
    for group, prefix in DEPTH_GROUPS.items():
        new = pooled(candidate, prefix, "depth", "abs_rel", "n_images")
        old = pooled(shipped, prefix, "depth", "abs_rel", "n_images")
        ok = new is not None and old is not None and new <= (1.0 + MAX_GROUP_LOSS) * old
        adopt &= ok
        lines.append(f"{group} depth abs_rel: {new} vs shipped {old} (at most {MAX_GROUP_LOSS:.0%} higher): "
                     f"{'ok' if ok else 'fails'}")
    return Verdict(adopt, tuple(lines))


def write_verdict(candidate_report: Path, shipped_report: Path, output: Path) -> Verdict:
    """Read both ``report.json`` files, write the verdict as ``output`` (Markdown) and return it.

    Raises:
        FileNotFoundError: a report is missing. json.JSONDecodeError: a report is not JSON.
    """
    verdict = adoption_verdict(json.loads(Path(candidate_report).read_text()),
                               json.loads(Path(shipped_report).read_text()))
    output.write_text(verdict.markdown() + "\n")
    return verdict
