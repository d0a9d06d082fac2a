"""``python -m training mvs --clips DIR [DIR ...] --output scores.csv [--sfm-dir DIR] [--holdout-sequences DIR ...]``:
MVS-proxy scores of every clip and segment.

Writes ``scores.csv`` (one row per clip, ``segment = all``, then one per shot segment; ``name`` is the clip's folder
name, ``mvs_score`` higher = more usable multi-view signal, then every component of :mod:`training.corpus.mvs`), the
corpus manifest (``manifest.json`` beside it, :mod:`training.data.manifest`), and ``scores.md``: the per-clip table
and, when the corpus has human motion labels, the ROC AUC of ``mvs_score`` for ``translating`` against every other
label, with the AUC of each component alone and of the score with each of its two factors left out. A clip that
cannot be read is reported and skipped; the command fails only when no clip could be scored.

``--sfm-dir`` (the SfM teacher's store, ``python -m training sfm --output``) adds the multi-view signal v2
(:mod:`training.corpus.rigidity`): each analysed pair the reconstruction registered is weighed by its rigid-explained
fraction, and the reconstruction's registered fraction, triangulation angle and points per image are reported per
segment. ``mvs_score`` is then the v2 score, the one column the filter, the curriculum and the domains read;
``two_view_score`` keeps the proxy without SfM. A clip without a current reconstruction (none, failed, stale) is
scored on its two-view signal alone. Without ``--sfm-dir`` the SfM columns are empty and ``mvs_score`` equals
``two_view_score``.

``--holdout-sequences`` (the evaluation sequences, TUM layout, as ``ss3d_eval --sequences`` takes them; ``training
pipeline`` passes its own) holds out every clip that shares a frame with one of them, by content
(:mod:`training.data.holdout`: every source frame of the clip against every evaluation frame, resized and re-encoded
copies included; about 50 s of CPU for the 140 MB of shared web clips). Such a clip is not scored: it gets one
``segment = all`` row with ``mvs_score`` 0, no components and the ``holdout`` column naming the sequences and the
number of shared frames, which the filter (:func:`training.corpus.curriculum.kept_segments`) drops whatever its
minimum score, so neither training nor the domains see it; it is left out of the manifest and of the ROC AUC, listed in
``scores.md`` and logged in one line.

Beside ``scores.csv`` goes its screening record, ``scores.holdout.json``
(:func:`training.data.holdout.write_screening_record`): the resolved ``--holdout-sequences`` paths, an empty list
without the option (the ``holdout`` column is then empty for every clip: nothing was screened, not every clip clean).
A fit on these scores (``data.mvs_scores``) trusts the ``holdout`` column only for the sequences the record names and
screens its clips itself against any other ``data.holdout_sequences``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import shlex
import sys
from pathlib import Path

import cv2

from ss3d_core.geometry.pair_signal import pair_gap
from training.corpus.mvs import PAIRS_PER_SEGMENT, ClipSignal, score_segments, summarise
from training.corpus.rigidity import RigidityCheck, segment_statistics
from training.data.clips import DEFAULT_TARGET_RATE_HZ, ClipSpec, read_clip_indices
from training.data.holdout import (
    Overlap,
    overlap_counts,
    screen_against,
    screening_record_path,
    write_screening_record,
)
from training.data.manifest import ManifestEntry, decode_for_analysis, write_manifest
from training.sfm.store import entry_key, load_reconstruction, read_record

LOG = logging.getLogger(__name__)

POSITIVE_LABEL = "translating"
COMPONENTS = tuple(ClipSignal.__dataclass_fields__)
SFM_COLUMNS = ("registered_fraction", "triangulation_angle_deg", "points_per_image")
# Components whose AUC alone scores.md lists (higher = more signal, except the static fraction, listed negated).
ABLATION_COMPONENTS = ("two_view_score", "rigid_explained", *SFM_COLUMNS, "parallax_deg", "gric_preference",
                       "rigid_ratio", "texture")


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


def _row(entry: ManifestEntry, segment: str, bounds: tuple[int, int], signal: ClipSignal,
         record: dict | None) -> dict[str, object]:
    sfm = (segment_statistics(record, *bounds) if record is not None
           else dict.fromkeys(SFM_COLUMNS, math.nan))
    return {"name": entry.name, "segment": segment, "start": bounds[0], "end": bounds[1], "kind": entry.kind,
            "label": entry.label or "", "consecutive": entry.consecutive, **signal.as_row(), **sfm, "holdout": ""}


def _held_out_row(spec: ClipSpec, overlaps: list[Overlap]) -> dict[str, object]:
    """The one ``segment = all`` row of a clip held out for sharing frames with evaluation sequences: not scored
    (``mvs_score`` 0, no components), ``holdout`` = ``sequence:shared_frames`` per sequence, ``;``-separated."""
    return {"name": spec.name, "segment": "all", "start": 0, "end": 0, "kind": spec.kind, "label": spec.label or "",
            "consecutive": spec.consecutive, **summarise([]).as_row(), **dict.fromkeys(SFM_COLUMNS, math.nan),
            "holdout": overlap_counts(overlaps)}


def _value(row: dict[str, object], column: str) -> float:
    """A component as a score: missing (NaN: nothing measured) ranks lowest."""
    value = float(row[column])
    return value if math.isfinite(value) else -math.inf


def _labelled_clip_rows(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The clip rows (``segment = all``) with a label, held-out clips left out: what the ROC AUC is computed on."""
    return [r for r in rows if r["segment"] == "all" and r["label"] and not r["holdout"]]


def ablation(rows: list[dict[str, object]]) -> list[tuple[str, float | None]]:
    """``(what, ROC AUC)`` on the labelled clip rows: ``mvs_score``; the score with each of its two factors left out
    (the two-view signal alone is ``two_view_score``; the SfM rigidity alone is ``rigid_explained``, lowest where it
    has no evidence); and each component of :data:`ABLATION_COMPONENTS` alone."""
    labelled = _labelled_clip_rows(rows)
    positive = [r["label"] == POSITIVE_LABEL for r in labelled]
    out = [("mvs_score", roc_auc([_value(r, "mvs_score") for r in labelled], positive))]
    out += [(f"{c} alone", roc_auc([_value(r, c) for r in labelled], positive)) for c in ABLATION_COMPONENTS]
    out.append(("static_fraction alone (negated)", roc_auc([-_value(r, "static_fraction") for r in labelled],
                                                           positive)))
    return out


def _markdown(rows: list[dict[str, object]], auc: float | None, failed: dict[str, str], command: str,
              sfm_note: str | None = None) -> str:
    held_out = [r for r in rows if r["holdout"]]
    clip_rows = sorted((r for r in rows if r["segment"] == "all" and not r["holdout"]),
                       key=lambda r: -float(r["mvs_score"]))
    columns = ["name", "label", "mvs_score", "two_view_score", "rigid_explained", "sfm_pairs", *SFM_COLUMNS,
               "parallax_deg", "gric_preference", "rigid_ratio", "static_fraction", "texture", "n_pairs", "end"]
    lines = ["# MVS proxy scores", "", f"`{command}`", ""] + ([sfm_note, ""] if sfm_note else [])
    if auc is not None:
        n_pos = sum(r["label"] == POSITIVE_LABEL for r in clip_rows if r["label"])
        n_labelled = sum(bool(r["label"]) for r in clip_rows)
        lines += [f"ROC AUC of `mvs_score`, `{POSITIVE_LABEL}` ({n_pos} clips) against every other label "
                  f"({n_labelled - n_pos} clips): **{auc:.3f}**", "", "| score | ROC AUC |", "|---|---|"]
        lines += [f"| {what} | {_fmt(value)} |" for what, value in ablation(rows)]
        lines.append("")
    lines += ["| " + " | ".join(c if c != "end" else "frames" for c in columns) + " |",
              "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in columns) + " |" for r in clip_rows]
    if failed:
        lines += ["", "Not scored:", ""] + [f"- `{name}`: {reason}" for name, reason in sorted(failed.items())]
    if held_out:
        lines += ["", "Held out (share frames with an evaluation sequence, `sequence:frames`; never trained on):", ""]
        lines += [f"- `{r['name']}`: {r['holdout']}" for r in held_out]
    return "\n".join(lines) + "\n"


def _reconstruction(spec: ClipSpec, frames: list, args: argparse.Namespace) -> tuple[dict | None, RigidityCheck | None]:
    """The clip's ``sfm.json`` record and its rigidity check from ``--sfm-dir``, or ``(None, None)`` (two-view signal
    alone; the store's loader logs why)."""
    if args.sfm_dir is None:
        return None, None
    record = read_record(args.sfm_dir, spec.name)
    if record is None or record.get("key") != entry_key(spec, args.target_rate_hz):
        record = None  # none or stale: no statistics either
    reconstruction = load_reconstruction(args.sfm_dir, spec, args.target_rate_hz)
    if reconstruction is None:
        return record, None
    try:
        return record, RigidityCheck(frames, reconstruction)
    except ValueError as err:
        LOG.warning("%s: SfM not used: %s", spec.name, err)
        return None, None


def main(argv: list[str] | None = None) -> int:
    """Run the command (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m training mvs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", required=True, help="corpus folders (with or without clips.csv)")
    parser.add_argument("--output", type=Path, required=True, help="scores.csv to write")
    parser.add_argument("--target-rate-hz", type=float, default=DEFAULT_TARGET_RATE_HZ)
    parser.add_argument("--pairs-per-segment", type=int, default=PAIRS_PER_SEGMENT)
    parser.add_argument("--sfm-dir", type=Path, help="the SfM teacher's store: adds the multi-view signal v2")
    parser.add_argument("--holdout-sequences", nargs="+", metavar="DIR", default=[],
                        help="evaluation sequences (TUM layout or folders of them): a clip sharing a frame is held out")
    args = parser.parse_args(argv)
    if args.pairs_per_segment < 1 or not args.target_rate_hz > 0:
        parser.error("--pairs-per-segment must be >= 1 and --target-rate-hz > 0")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2.setRNGSeed(0)  # USAC sampling: the same scores run to run
    specs = read_clip_indices(args.clips)
    try:
        screening = screen_against(specs, args.holdout_sequences)
    except ValueError as err:
        parser.error(f"--holdout-sequences: {err}")
    failed = dict(screening.unreadable)
    rows = [_held_out_row(spec, screening.held_out[spec.name]) for spec in specs if spec.name in screening.held_out]
    entries, with_sfm = [], []
    for k, spec in enumerate(screening.kept, 1):
        try:
            entry, frames = decode_for_analysis(spec, args.target_rate_hz)
        except (ValueError, FileNotFoundError, OSError) as err:
            failed[spec.name] = str(err)
            LOG.warning("[%d/%d] %s: not scored: %s", k, len(screening.kept), spec.name, err)
            continue
        gap = pair_gap(entry.rate_hz, entry.consecutive)
        record, rigidity = _reconstruction(spec, frames, args)
        if rigidity is not None:
            with_sfm.append(spec.name)
        clip, per_segment = score_segments(frames, entry.segments, gap, args.pairs_per_segment, rigidity)
        entries.append(entry)
        rows.append(_row(entry, "all", (0, entry.n_frames), clip, record))
        rows += [_row(entry, str(i), seg, sig, record)
                 for i, (seg, sig) in enumerate(zip(entry.segments, per_segment))]
        LOG.info("[%d/%d] %s: mvs_score %.3f (two-view %.3f, %d pairs with SfM; %d frames, %d segments, label %s)",
                 k, len(screening.kept), spec.name, clip.mvs_score, clip.two_view_score, clip.sfm_pairs,
                 entry.n_frames, len(entry.segments), entry.label)
    if not entries:
        LOG.error("no clip could be scored")
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # An earlier run's record must not vouch for these scores if this run stops between the two writes.
    screening_record_path(args.output).unlink(missing_ok=True)
    with args.output.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: _fmt(v) for k, v in r.items()} for r in rows)
    record = write_screening_record(args.output, args.holdout_sequences)
    write_manifest(entries, args.output.with_name("manifest.json"), args.target_rate_hz)
    labelled = _labelled_clip_rows(rows)
    auc = roc_auc([float(r["mvs_score"]) for r in labelled], [r["label"] == POSITIVE_LABEL for r in labelled])
    command = shlex.join(["python", "-m", "training", "mvs", *(sys.argv[1:] if argv is None else argv)])
    # A store whose entries are all stale (the clips' files were copied or touched since) silently gives v1 scores
    # otherwise: say how many clips the SfM evidence reached.
    sfm_note = None if args.sfm_dir is None else (
        f"SfM evidence (--sfm-dir {args.sfm_dir}): a current reconstruction for {len(with_sfm)} of {len(entries)} "
        "clips (the others: two-view signal alone; the log says why)")
    args.output.with_suffix(".md").write_text(_markdown(rows, auc, failed, command, sfm_note))
    if sfm_note is not None:
        print(sfm_note)
    if auc is not None:
        print(f"ROC AUC (mvs_score, {POSITIVE_LABEL} vs other labels, {len(labelled)} clips): {auc:.3f}")
    print(f"wrote {args.output}, {record}, {args.output.with_suffix('.md')}, {args.output.with_name('manifest.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
