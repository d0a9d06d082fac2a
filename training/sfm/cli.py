"""``python -m training sfm --clips DIR [DIR ...] --output DIR [--jobs N] [--shard I/N] [--timeout-s S]
[--holdout-sequences DIR ...]``: the SfM teacher's reconstructions of a corpus (:mod:`training.sfm.clip_sfm`), stored
once per clip (:mod:`training.sfm.store`).

Every clip the clip index reads (video, frame folder, rosbag2, TUM layout; :mod:`training.data.clips`) is reconstructed
with COLMAP, one reconstruction per shot segment, unless the store already holds it under the same key (clip files,
rate, COLMAP settings): a rerun is free. ``--jobs N`` reconstructs N clips at a time, each COLMAP run in its own child
process with ``cores / N`` threads. ``--shard I/N`` (``0 <= I < N``) takes every N-th clip of the clip list sorted by
name, starting at the I-th, so that the N parts are disjoint and cover the list: a SLURM array, Ray tasks or the ranks
of a DDP job can share one ``--output``. A clip that fails, times out, has too few frames or no texture gets one log
line with the reason and a ``failed`` entry; nothing aborts the run. At the end the command prints a table of the
whole clip list as the store holds it (clips of other shards included; ``missing`` where nothing is stored yet) and
writes it to ``<output>/summary.csv``, then prints the corpus's median focal length in image widths over the clips
that give labels (:func:`training.sfm.store.corpus_focal_per_width`, the value of ``ss3d_eval --corpus-fx-per-width``)
and writes it to ``<output>/summary.json`` (``corpus_fx_per_width``, ``clips_with_labels``, ``clips``).

``--holdout-sequences`` (the evaluation sequences, as ``python -m training mvs`` takes them; ``training pipeline``
passes its own) skips every clip of this shard that shares a frame with one of them
(:func:`training.data.holdout.screen_against`, one log line each; a clip the guard cannot read is skipped too): COLMAP
never runs on it, and the summary lists it as ``held_out`` (its reason naming the sequences and the shared frame
counts) and leaves it out of the corpus focal length and ``clips``, whatever the store still holds for it from an
earlier run. The guard reads every source frame of the shard's clips once (about 50 s of CPU for the shared web
clips); with ``--shard`` each part checks only its own clips, and the summary it writes marks only those.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from ss3d_core.sfm.runner import DEFAULT_TIMEOUT_S, colmap_available
from training.data.clips import DEFAULT_TARGET_RATE_HZ, ClipSpec, read_clip_indices
from training.data.holdout import Overlap, overlap_counts, screen_against
from training.sfm.clip_sfm import build_clip
from training.sfm.store import corpus_focal_per_width, read_record, unusable_reason

__all__ = ["SUMMARY_COLUMNS", "parse_shard", "shard_clips", "summary_rows", "add_reconstruction_arguments",
           "colmap_ready", "main"]

LOG = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("clip", "label", "frames", "registered", "fx", "fx_per_width", "seconds", "status", "labels",
                   "reason")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)``.

    Raises:
        ValueError: not two integers with ``0 <= I < N``.
    """
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ValueError(f"--shard must be I/N with integers, got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard I/N needs 0 <= I < N, got {text!r}")
    return i, n


def shard_clips(specs: list[ClipSpec], index: int, count: int) -> list[ClipSpec]:
    """The ``index``-th of ``count`` disjoint parts of the clips sorted by name (every ``count``-th clip from the
    ``index``-th on: long and short clips spread evenly over the parts)."""
    return sorted(specs, key=lambda spec: spec.name)[index::count]


def summary_rows(specs: list[ClipSpec], output: Path,
                 held_out: dict[str, list[Overlap]] | None = None) -> list[dict[str, Any]]:
    """One row per clip (:data:`SUMMARY_COLUMNS`) from the store as it is on disk; ``labels`` says whether training
    gets SfM labels from the clip (:func:`training.sfm.store.unusable_reason`). A clip of ``held_out`` (name -> its
    overlaps with the evaluation sequences) is ``held_out`` whatever the store holds."""
    held_out = held_out or {}
    rows = []
    for spec in sorted(specs, key=lambda spec: spec.name):
        if spec.name in held_out:
            rows.append({"clip": spec.name, "label": spec.label or "", "status": "held_out", "labels": "no",
                         "reason": f"shares frames with evaluation sequences: {overlap_counts(held_out[spec.name])}"})
            continue
        record = read_record(output, spec.name)
        if record is None:
            rows.append({"clip": spec.name, "label": spec.label or "", "status": "missing"})
            continue
        K = record.get("K")
        usable = unusable_reason(record)
        rows.append({
            "clip": spec.name, "label": spec.label or "", "frames": record.get("frames"),
            "registered": record.get("registered"), "fx": round(K[0][0], 1) if K else None,
            "fx_per_width": round(K[0][0] / record["width"], 4) if K else None,
            "seconds": record.get("seconds"), "status": record["status"], "labels": "yes" if usable is None else "no",
            "reason": record.get("reason") or ("" if usable is None else usable),
        })
    return rows


def _write_atomically(path: Path, write) -> None:
    """Write ``path`` with ``write(file)`` through a temporary file renamed over it (concurrent shards each rewrite
    the same summary)."""
    fd, tmp = tempfile.mkstemp(prefix=".summary-", suffix=path.suffix, dir=path.parent)
    with os.fdopen(fd, "w", newline="") as f:
        write(f)
    os.replace(tmp, path)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    def write(f) -> None:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)

    _write_atomically(path, write)


def _table(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else str(value)

    columns = SUMMARY_COLUMNS[:-1]
    widths = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(cell(r.get(c)).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def _build(spec: ClipSpec, args: argparse.Namespace, num_threads: int) -> str:
    """One clip's log message; a missing source is a message, not an exception."""
    try:
        record, built = build_clip(spec, args.output, args.target_rate_hz, args.timeout_s, num_threads)
    except FileNotFoundError as err:
        return f"not reconstructed: {err}"
    stored = "" if built else " (stored)"
    if record["status"] != "ok":
        return f"failed ({record['seconds']} s){stored}: {record['reason']}"
    return (f"{record['registered']}/{record['frames']} frames registered, fx {record['K'][0][0]:.1f} px, "
            f"{record['models']} model(s), {record['seconds']} s{stored}")


def add_reconstruction_arguments(parser: argparse.ArgumentParser) -> None:
    """``--timeout-s`` and ``--target-rate-hz``, the settings of every store build besides COLMAP's own (a command
    that builds store entries takes them here, so that its entries are keyed as this command's are)."""
    parser.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"wall-clock limit of one COLMAP run, seconds (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--target-rate-hz", type=float, default=DEFAULT_TARGET_RATE_HZ,
                        help="the corpus rate (default: the training cache's)")


def colmap_ready() -> bool:
    """Start INFO logging to stderr and say whether pycolmap can run (one error line when it cannot)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    available, detail = colmap_available()
    if not available:
        LOG.error("no SfM: %s", detail)
    return available


def main(argv: list[str] | None = None) -> int:
    """Run the command (see the module docstring); returns the exit status (0 unless the arguments are wrong or
    pycolmap is missing: failed clips are part of the result)."""
    parser = argparse.ArgumentParser(prog="python -m training sfm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", required=True, help="corpus folders (with or without clips.csv)")
    parser.add_argument("--output", type=Path, required=True, help="the store's folder (one sub-folder per clip)")
    parser.add_argument("--jobs", type=int, default=1, help="clips reconstructed at a time (default 1)")
    parser.add_argument("--shard", default="0/1", help="I/N: this process's part of the sorted clip list")
    parser.add_argument("--holdout-sequences", nargs="+", metavar="DIR", default=[],
                        help="evaluation sequences (TUM layout or folders of them): a clip sharing a frame is skipped")
    add_reconstruction_arguments(parser)
    args = parser.parse_args(argv)
    try:
        shard = parse_shard(args.shard)
    except ValueError as err:
        parser.error(str(err))
    if args.jobs < 1 or not args.timeout_s > 0 or not args.target_rate_hz > 0:
        parser.error("--jobs must be >= 1, --timeout-s and --target-rate-hz > 0")
    if not colmap_ready():
        return 1
    specs = read_clip_indices(args.clips)
    try:
        screening = screen_against(shard_clips(specs, *shard), args.holdout_sequences)
    except ValueError as err:
        parser.error(f"--holdout-sequences: {err}")
    mine, held_out = screening.kept, screening.held_out
    num_threads = max(1, (os.cpu_count() or 1) // args.jobs)
    LOG.info("SfM of %d of %d clips (shard %d/%d), %d at a time with %d COLMAP thread(s) each, into %s",
             len(mine), len(specs), *shard, args.jobs, num_threads, args.output)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(_build, spec, args, num_threads): spec for spec in mine}
        for k, future in enumerate(as_completed(futures), 1):
            LOG.info("[%d/%d] %s: %s", k, len(mine), futures[future].name, future.result())
    args.output.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(specs, args.output, held_out)
    _write_csv(rows, args.output / "summary.csv")
    corpus_specs = [spec for spec in specs if spec.name not in held_out]
    fx_per_width, with_labels = corpus_focal_per_width(args.output, corpus_specs, args.target_rate_hz)
    corpus = {"corpus_fx_per_width": fx_per_width, "clips_with_labels": with_labels, "clips": len(corpus_specs)}
    _write_atomically(args.output / "summary.json", lambda f: f.write(json.dumps(corpus, indent=1) + "\n"))
    print(_table(rows))
    if fx_per_width is None:
        print("corpus median fx/W: none (no clip gives SfM labels)")
    else:
        print(f"corpus median fx/W over the {with_labels} clips with SfM labels: {fx_per_width:.4f} "
              f"(ss3d_eval --corpus-fx-per-width {fx_per_width:.4f})")
    print(f"{len(mine)} clips in {time.perf_counter() - start:.0f} s; wrote {args.output / 'summary.csv'} and "
          f"{args.output / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
