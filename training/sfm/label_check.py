"""``python -m training label-check --sequences DIR [DIR ...] [--overlap CLIP=SEQUENCE ...] [--output DIR]``: the SfM
teacher's pose labels and focal length scored against ground truth, so that a bad label cannot pass as a bad loss
weight (issue 33, item 2).

Each sequence with ``groundtruth.txt`` (TUM layout, ``--sequences`` takes sequences or folders of them) is read as a
clip by the clip index (:func:`training.data.clips.read_clip_index`: a ``tum`` clip, frames at the corpus rate) and
reconstructed by the store's own code (:func:`training.sfm.clip_sfm.build_clip`, the COLMAP settings of
:mod:`ss3d_core.sfm.settings`, the store's layout) into ``--output`` (``out/label_check`` by default; never the training
store: dev sequences are never trained on). ``--overlap CLIP=SEQUENCE`` does the same for a corpus clip (its folder;
its kind and flags come from its corpus's ``clips.csv``) that holds frames of a sequence with ground truth. The labels
are then read back as training reads them (:func:`training.sfm.store.load_sfm`, then
:func:`training.sfm.triplet_labels.triplet_labels` per target) and scored pair by pair against the ground truth
(:mod:`training.sfm.label_scoring`, frames matched to ground truth by :mod:`training.sfm.clip_ground_truth`); the
store's ``fx`` is compared with ``calib.yaml``'s (:func:`ss3d_eval.intrinsics_metrics.intrinsics_errors`, relative).

Prints one row per clip (labels scored, rotation and translation-direction error median / mean / p90 in degrees, fx
relative error, the ground truth's median rotation per pair for scale) as a Markdown table and writes it, with every
label's errors, to ``<output>/label_check.json``. A sequence without ground truth or with fewer frames than COLMAP
needs (:data:`ss3d_core.sfm.settings.MIN_FRAMES`) is a ``skipped`` row, a reconstruction that fails or gives no
labels a row with the store's reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ss3d_core.io.tum_sequence import DEFAULT_MAX_TIME_DIFF_S, Calibration, TumSequence, find_sequences
from ss3d_core.sfm.settings import MIN_FRAMES, settings_record
from ss3d_eval.intrinsics_metrics import intrinsics_errors
from ss3d_eval.pose_metrics import TRANSLATION_NOISE_FLOOR_M
from training.data.clips import ClipSpec, read_clip_index
from training.sfm.cli import add_reconstruction_arguments, colmap_ready
from training.sfm.clip_ground_truth import GT_FILE, clip_ground_truth
from training.sfm.clip_sfm import build_clip
from training.sfm.label_scoring import label_errors, summarise_label_errors
from training.sfm.store import load_sfm, usable_record

__all__ = ["DEFAULT_OUTPUT", "REPORT_FILE", "TABLE_COLUMNS", "overlap_spec", "check_clip", "markdown_table", "main"]

LOG = logging.getLogger(__name__)

# Where the reconstructions and the report go unless --output says otherwise (relative to the working directory).
DEFAULT_OUTPUT = "out/label_check"
REPORT_FILE = "label_check.json"
# (header, row key, decimals) of the printed table.
TABLE_COLUMNS = (
    ("clip", "clip", None), ("sequence", "sequence", None), ("status", "status", None),
    ("registered", "registered", None), ("rotation labels", "n_rotation_labels", None),
    ("rot median °", "rot_err_deg_median", 3), ("rot mean °", "rot_err_deg_mean", 3),
    ("rot p90 °", "rot_err_deg_p90", 3),
    ("direction labels", "n_tdir_labels", None), ("dir median °", "tdir_err_deg_median", 2),
    ("dir mean °", "tdir_err_deg_mean", 2), ("dir p90 °", "tdir_err_deg_p90", 2),
    ("fx rel. error", "fx_rel_err", 3), ("GT rotation median °", "gt_rotation_deg_median", 3),
)


def overlap_spec(clip_folder: str | Path) -> ClipSpec:
    """The clip in ``clip_folder`` as its corpus indexes it (the corpus is the folder above, :func:`read_clip_index`).

    Raises:
        FileNotFoundError: the corpus or the clip does not exist.
    """
    clip_folder = Path(clip_folder)
    for spec in read_clip_index(clip_folder.parent):
        if spec.name == clip_folder.name:
            return spec
    raise FileNotFoundError(f"{clip_folder}: not a clip of the corpus {clip_folder.parent}")


def _fx_error(record: dict[str, Any] | None, calibration: Calibration) -> float | None:
    """Relative error of the store's fx (the clip's ``K``) against the calibration, both at the calibration's size."""
    if record is None or record.get("K") is None:
        return None
    return intrinsics_errors(record["K"], (int(record["width"]), int(record["height"])), calibration.K,
                             (calibration.width, calibration.height))["fx_rel_err"]


def check_clip(spec: ClipSpec, sequence_root: Path, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict]]:
    """Reconstruct one clip into the check's store, read its labels back as training does and score them.

    Returns:
        ``(row, labels)``: the table row (``clip``, ``sequence``, ``status`` ``ok`` / ``no labels`` / ``failed``,
        ``reason``, ``frames``, ``registered``, ``fx_rel_err`` and :func:`summarise_label_errors`'s keys when ``ok``)
        and every scored label (:meth:`training.sfm.label_scoring.LabelError.as_dict`).
    """
    row: dict[str, Any] = {"clip": spec.name, "sequence": sequence_root.name, "kind": spec.kind}
    record, built = build_clip(spec, args.output, args.target_rate_hz, args.timeout_s, args.threads)
    LOG.info("%s: %s%s", spec.name, record["status"], "" if built else " (stored)")
    row.update(frames=record.get("frames"), registered=record.get("registered"),
               fx_rel_err=_fx_error(record, Calibration.from_yaml(sequence_root / "calib.yaml")))
    labels = load_sfm(args.output, spec, args.target_rate_hz)  # training's reader (datamodule._sfm_labels)
    if labels is None:
        _, reason = usable_record(args.output, spec, args.target_rate_hz)
        row.update(status="failed" if record["status"] != "ok" else "no labels", reason=reason)
        return row, []
    errors = label_errors(labels, clip_ground_truth(spec, sequence_root, args.target_rate_hz, args.max_time_diff_s),
                          args.noise_floor_m)
    row.update(status="ok", reason=None, **summarise_label_errors(errors, args.noise_floor_m))
    return row, [e.as_dict() for e in errors]


def _targets(args: argparse.Namespace) -> tuple[list[tuple[ClipSpec, Path]], list[dict[str, Any]]]:
    """``(clip, sequence)`` pairs to check and the ``skipped`` rows of sequences that cannot be."""
    targets, skipped = [], []
    for root in find_sequences(args.sequences) if args.sequences else []:
        n_frames = len(TumSequence.load(root).rgb)
        reason = (f"no {GT_FILE}" if not (root / GT_FILE).is_file() else
                  f"{n_frames} frames, fewer than {MIN_FRAMES} (ss3d_core.sfm.settings.MIN_FRAMES)"
                  if n_frames < MIN_FRAMES else None)
        if reason is None:
            targets.append((read_clip_index(root)[0], root))
        else:
            skipped.append({"clip": root.name, "sequence": root.name, "status": "skipped", "reason": reason})
    for pair in args.overlap:
        clip, _, sequence = pair.partition("=")
        targets.append((overlap_spec(clip), Path(sequence)))
    return targets, skipped


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table of :data:`TABLE_COLUMNS` (``–`` for a missing value), then one line per row with
    a reason."""
    def cell(value: Any, decimals: int | None) -> str:
        if value is None:
            return "–"
        return f"{value:.{decimals}f}" if decimals is not None else str(value)

    lines = ["| " + " | ".join(header for header, _, _ in TABLE_COLUMNS) + " |",
             "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(cell(row.get(key), decimals) for _, key, decimals in TABLE_COLUMNS) + " |"
              for row in rows]
    lines += [f"- {row['clip']}: {row['reason']}" for row in rows if row.get("reason")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command (see the module docstring); returns the exit status (0 unless the arguments are wrong or
    pycolmap is missing: failed reconstructions are part of the result)."""
    parser = argparse.ArgumentParser(prog="python -m training label-check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", nargs="*", default=[], help="TUM-layout sequences or folders of them")
    parser.add_argument("--overlap", nargs="*", default=[], metavar="CLIP=SEQUENCE",
                        help="a corpus clip's folder and the sequence whose frames it holds")
    parser.add_argument("--output", type=Path, default=Path(DEFAULT_OUTPUT),
                        help=f"the check's own SfM store and report (default {DEFAULT_OUTPUT})")
    add_reconstruction_arguments(parser)
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1),
                        help="COLMAP threads (default: all cores)")
    parser.add_argument("--max-time-diff-s", type=float, default=DEFAULT_MAX_TIME_DIFF_S,
                        help=f"frame / ground-truth association tolerance, s (default {DEFAULT_MAX_TIME_DIFF_S:g})")
    parser.add_argument("--noise-floor-m", type=float, default=TRANSLATION_NOISE_FLOOR_M,
                        help=f"ground-truth translations below this have no direction, m "
                             f"(default {TRANSLATION_NOISE_FLOOR_M:g})")
    args = parser.parse_args(argv)
    if not args.sequences and not args.overlap:
        parser.error("give --sequences and/or --overlap")
    if any("=" not in pair for pair in args.overlap):
        parser.error("--overlap takes CLIP=SEQUENCE (two folders)")
    if args.threads < 1 or not args.timeout_s > 0 or not args.target_rate_hz > 0:
        parser.error("--threads must be >= 1, --timeout-s and --target-rate-hz > 0")
    if not colmap_ready():
        return 1
    targets, rows = _targets(args)
    labels: dict[str, list[dict]] = {}
    for spec, sequence_root in targets:
        row, labels[spec.name] = check_clip(spec, sequence_root, args)
        rows.append(row)
    args.output.mkdir(parents=True, exist_ok=True)
    report = {"target_rate_hz": args.target_rate_hz, "max_time_diff_s": args.max_time_diff_s,
              "noise_floor_m": args.noise_floor_m, "settings": settings_record(), "rows": rows, "labels": labels}
    (args.output / REPORT_FILE).write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    print(markdown_table(rows))
    print(f"wrote {args.output / REPORT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
