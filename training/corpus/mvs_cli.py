"""``python -m training mvs --clips DIR [DIR ...] --output scores.csv``: MVS-proxy scores of every clip and segment.

Writes ``scores.csv`` (one row per clip, ``segment = all``, then one per shot segment; ``name`` is the clip's folder
name, ``mvs_score`` higher = more usable multi-view signal, then every component of :mod:`training.corpus.mvs`), the
corpus manifest (``manifest.json`` beside it, :mod:`training.corpus.manifest`), and ``scores.md``: the per-clip table
and, when the corpus has human motion labels, the ROC AUC of ``mvs_score`` for ``translating`` against every other
label. A clip that cannot be read is reported and skipped; the command fails only when no clip could be scored.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import sys
from pathlib import Path

import cv2

from training.clips import DEFAULT_TARGET_RATE_HZ, read_clip_indices
from training.corpus.manifest import ManifestEntry, decode_for_analysis, write_manifest
from training.corpus.mvs import PAIRS_PER_SEGMENT, ClipSignal, pair_gap, score_segments

LOG = logging.getLogger(__name__)

POSITIVE_LABEL = "translating"
COMPONENTS = tuple(ClipSignal.__dataclass_fields__)


def roc_auc(scores: list[float], positive: list[bool]) -> float | None:
    """Area under the ROC curve: the probability that a random positive scores above a random negative (ties count
    one half; Mann-Whitney U / (n_pos n_neg)). ``None`` without both classes."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def _row(entry: ManifestEntry, segment: str, bounds: tuple[int, int], signal: ClipSignal) -> dict[str, object]:
    return {"name": entry.name, "segment": segment, "start": bounds[0], "end": bounds[1], "kind": entry.kind,
            "label": entry.label or "", "consecutive": entry.consecutive, **signal.as_row()}


def _markdown(rows: list[dict[str, object]], auc: float | None, failed: dict[str, str]) -> str:
    clip_rows = sorted((r for r in rows if r["segment"] == "all"), key=lambda r: -float(r["mvs_score"]))
    columns = ["name", "label", "mvs_score", "parallax_deg", "gric_preference", "rigid_ratio", "static_fraction",
               "texture", "n_pairs", "end"]
    lines = ["# MVS proxy scores", ""]
    if auc is not None:
        n_pos = sum(r["label"] == POSITIVE_LABEL for r in clip_rows)
        lines += [f"ROC AUC of `mvs_score`, `{POSITIVE_LABEL}` ({n_pos} clips) against every other label "
                  f"({len(clip_rows) - n_pos} clips): **{auc:.3f}**", ""]
    lines += ["| " + " | ".join(c if c != "end" else "frames" for c in columns) + " |",
              "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in columns) + " |" for r in clip_rows]
    if failed:
        lines += ["", "Not scored:", ""] + [f"- `{name}`: {reason}" for name, reason in sorted(failed.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the command (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m training mvs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", required=True, help="corpus folders (with or without clips.csv)")
    parser.add_argument("--output", type=Path, required=True, help="scores.csv to write")
    parser.add_argument("--target-rate-hz", type=float, default=DEFAULT_TARGET_RATE_HZ)
    parser.add_argument("--pairs-per-segment", type=int, default=PAIRS_PER_SEGMENT)
    args = parser.parse_args(argv)
    if args.pairs_per_segment < 1 or not args.target_rate_hz > 0:
        parser.error("--pairs-per-segment must be >= 1 and --target-rate-hz > 0")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2.setRNGSeed(0)  # USAC sampling: the same scores run to run
    specs = read_clip_indices(args.clips)
    entries, rows, failed = [], [], {}
    for k, spec in enumerate(specs, 1):
        try:
            entry, frames = decode_for_analysis(spec, args.target_rate_hz)
        except (ValueError, FileNotFoundError, OSError) as err:
            failed[spec.name] = str(err)
            LOG.warning("[%d/%d] %s: not scored: %s", k, len(specs), spec.name, err)
            continue
        gap = pair_gap(entry.rate_hz, entry.consecutive)
        clip, per_segment = score_segments(frames, entry.segments, gap, args.pairs_per_segment)
        entries.append(entry)
        rows.append(_row(entry, "all", (0, entry.n_frames), clip))
        rows += [_row(entry, str(i), seg, sig) for i, (seg, sig) in enumerate(zip(entry.segments, per_segment))]
        LOG.info("[%d/%d] %s: mvs_score %.3f (%d frames, %d segments, label %s)", k, len(specs), spec.name,
                 clip.mvs_score, entry.n_frames, len(entry.segments), entry.label)
    if not rows:
        LOG.error("no clip could be scored")
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: _fmt(v) for k, v in r.items()} for r in rows)
    write_manifest(entries, args.output.with_name("manifest.json"), args.target_rate_hz)
    labelled = [r for r in rows if r["segment"] == "all" and r["label"]]
    auc = roc_auc([float(r["mvs_score"]) for r in labelled], [r["label"] == POSITIVE_LABEL for r in labelled])
    args.output.with_suffix(".md").write_text(_markdown(rows, auc, failed))
    if auc is not None:
        print(f"ROC AUC (mvs_score, {POSITIVE_LABEL} vs other labels, {len(labelled)} clips): {auc:.3f}")
    print(f"wrote {args.output}, {args.output.with_suffix('.md')}, {args.output.with_name('manifest.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
