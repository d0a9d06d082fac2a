"""The adoption rule of ``make train`` (written in ``training/configs/student_distill.yaml`` before the final run),
applied to two ``ss3d_eval`` reports: the new checkpoint replaces the shipped one only if, on the aggregate over the
evaluation sequences, its depth AbsRel and its rotation error are both lower and its fx error is not higher.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# (report section, metric, what it must do): AbsRel and rotation error must improve, fx error must not get worse.
RULE = (("depth", "abs_rel", "lower"), ("pose", "rot_err_deg", "lower"), ("intrinsics", "fx_rel_err", "not higher"))


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
        ok = new is not None and old is not None and (new < old if need == "lower" else new <= old)
        adopt &= ok
        lines.append(f"{section} {metric}: {new} vs shipped {old} (must be {need}): {'ok' if ok else 'fails'}")
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
