"""``ss3d_eval``: score one SS3D checkpoint on depth, ego-motion and intrinsics over TUM-layout sequences.

Example::

    ss3d_eval --sequences ../shared/data/sequences --output out/eval/report.json
    python -m ss3d_eval --checkpoint out/ckpt/ss3d_small --sequences seq1 seq2 --output r.json
    ss3d_eval --compare out/new/report.json out/eval/report.json [--output out/compare.json]

Writes ``report.json``, ``report.md`` (same folder, same stem) and PNG figures in ``figures/`` next to them.
A sequence that cannot be read (a file that does not decode, 8-bit depth, a depth image of another size than its
image, malformed text files) is skipped and listed under ``failed`` with the reason; an empty sequence is listed
under ``warnings``; every other sequence is scored and reported.
Exit status: 0 when at least one sequence was scored, 1 when none could be (the report is still written) or on an
unexpected failure, 2 on bad arguments (unknown paths, unreadable checkpoint, unavailable backend).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOG = logging.getLogger("ss3d_eval")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_ARGUMENTS = 2  # argparse's own status for usage errors
# Default number of depth error-map figures per sequence.
DEFAULT_DEPTH_FIGURES = 2
FIGURES_DIR = "figures"
# --gap-threshold-s value that picks the threshold per sequence (sequence_runner.auto_gap_threshold_s).
GAP_AUTO = "auto"


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _gap_threshold(text: str) -> float | None:
    """``auto`` -> ``None`` (per-sequence threshold), else a positive number of seconds."""
    return None if text.strip().lower() == GAP_AUTO else _positive_float(text)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``ss3d_eval`` argument parser."""
    from ss3d_core.backends import BACKEND_NAMES
    from ss3d_core.backends.base import PRECISIONS
    from ss3d_core.estimator import EstimatorConfig
    from ss3d_eval.baselines.colmap_selfcalib import DEFAULT_TIMEOUT_S
    from ss3d_eval.sequence_runner import GAP_FRAME_PERIODS

    parser = argparse.ArgumentParser(
        prog="ss3d_eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", help="SS3D checkpoint NAME[.safetensors|.json] (default: the bundled one)")
    task = parser.add_mutually_exclusive_group(required=True)
    task.add_argument("--sequences", nargs="+", metavar="DIR", help="TUM-layout sequence folders, or folders of them")
    task.add_argument("--compare", nargs=2, type=Path, metavar=("NEW_REPORT", "OLD_REPORT"),
                      help="compare two report.json files item by item: paired differences per group and on the "
                           "aggregate with 95 %% bootstrap intervals (ss3d_eval.compare); printed, and written as "
                           "JSON + Markdown when --output is given")
    parser.add_argument("--output", type=Path,
                        help="report JSON path (report.md goes next to it); required with --sequences")
    parser.add_argument("--backend", default="auto", choices=BACKEND_NAMES,
                        help="inference backend (default: auto); compiled graphs and engines come from the cache "
                             "that ss3d_export fills ($SS3D_CACHE_DIR or ~/.cache/ss3d_ros)")
    parser.add_argument("--precision", default="fp16", choices=PRECISIONS, help="TensorRT precision (default fp16)")
    parser.add_argument("--depth-cap-m", type=_positive_float,
                        help="depth cap in metres for every sequence (default: per sequence, 10 indoor / 80 outdoor)")
    parser.add_argument("--max-frames", type=_positive_int, help="evaluate only the first N frames of each sequence")
    parser.add_argument("--figures", type=_non_negative_int, default=DEFAULT_DEPTH_FIGURES,
                        help=f"depth error-map figures per sequence; 0 disables all figures "
                             f"(default {DEFAULT_DEPTH_FIGURES})")
    parser.add_argument("--gap-threshold-s", type=_gap_threshold, default=GAP_AUTO, metavar="SECONDS|auto",
                        help=f"estimator: a larger stamp gap restarts odometry; a number applies to every sequence "
                             f"(default {GAP_AUTO}: per sequence max(the node's "
                             f"{EstimatorConfig().gap_threshold_s:g} s, {GAP_FRAME_PERIODS} x median frame interval "
                             "of rgb.txt))")
    parser.add_argument("--no-colmap", action="store_true", help="skip the COLMAP self-calibration baseline")
    parser.add_argument("--colmap-timeout-s", type=_positive_float, default=DEFAULT_TIMEOUT_S,
                        help="wall-clock limit of one COLMAP run (default %(default)s s)")
    parser.add_argument("--corpus-fx-per-width", type=_positive_float,
                        help="add the corpus_k baseline: a constant K with fx = fy = this × width (the training "
                             "corpus's median, printed by `python -m training sfm`)")
    parser.add_argument("--num-threads", type=_positive_int, help="CPU threads of the inference backend")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser


def _versions() -> dict[str, str]:
    import cv2
    import evo
    import numpy
    import torch

    return {"torch": torch.__version__, "numpy": numpy.__version__, "opencv": cv2.__version__, "evo": evo.__version__}


def _write_figures(outcomes: list[Any], figures_dir: Path, n_depth: int) -> list[Path]:
    from ss3d_eval.figures import depth_error_figure, trajectory_figure
    from ss3d_eval.pose_metrics import MIN_ATE_POSES

    written = []
    for outcome in outcomes:
        for sample in outcome.depth_samples[:n_depth]:
            path = figures_dir / f"{outcome.name}_depth_{sample.frame_index:05d}.png"
            written.append(depth_error_figure(sample, f"{outcome.name} frame {sample.frame_index}", path))
        if outcome.ate is not None and outcome.ate.n_poses >= MIN_ATE_POSES:
            path = figures_dir / f"{outcome.name}_trajectory.png"
            written.append(trajectory_figure(outcome.ate, f"{outcome.name}: top-down trajectory", path))
    return written


def compare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``--compare NEW OLD``: print the paired comparison; with ``--output`` also write it (JSON and Markdown)."""
    import json

    from ss3d_eval.compare import compare_reports, comparison_markdown
    from ss3d_eval.report import write_json

    reports = []
    for path in args.compare:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            parser.error(f"--compare {path}: {err}")
    try:
        comparison = compare_reports(*reports)
    except ValueError as err:
        parser.error(f"--compare: {err}")
    markdown = comparison_markdown(comparison)
    sys.stdout.write(markdown + "\n")
    if args.output is not None:
        write_json(comparison, args.output)
        args.output.with_suffix(".md").write_text(markdown + "\n")
        LOG.info("wrote %s and %s", args.output, args.output.with_suffix(".md"))
    return EXIT_OK


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Evaluate with parsed ``args``; usage problems go through ``parser.error`` (exit 2)."""
    if args.compare:
        return compare(args, parser)
    if args.output is None:
        parser.error("--output is required with --sequences")
    from ss3d_core.backends import BackendUnavailable, create_backend
    from ss3d_core.checkpoint import CheckpointError, bundled_checkpoint
    from ss3d_core.estimator import Estimator, EstimatorConfig
    from ss3d_core.io.tum_sequence import find_sequences
    from ss3d_eval.baselines.colmap_selfcalib import colmap_available
    from ss3d_eval.report import build_report, write_json, write_markdown
    from ss3d_eval.sequence_runner import GAP_FRAME_PERIODS, RunOptions

    try:
        folders = find_sequences(args.sequences)
    except (FileNotFoundError, NotADirectoryError) as err:
        parser.error(f"--sequences: {err}")
    checkpoint = str(args.checkpoint or bundled_checkpoint())
    try:
        backend, metadata = create_backend(args.backend, checkpoint, num_threads=args.num_threads,
                                           precision=args.precision)
    except (CheckpointError, BackendUnavailable, ValueError) as err:
        parser.error(f"--checkpoint/--backend: cannot load {checkpoint} on {args.backend}: {err}")
    config = EstimatorConfig()  # the node's defaults; gap_threshold_s is set per sequence by the runner
    LOG.info("checkpoint %s on %s (%dx%d); %d sequence(s)", checkpoint, backend.name, *backend.input_size,
             len(folders))

    if not args.no_colmap:
        available, detail = colmap_available()
        if available:
            LOG.info("colmap_selfcalib baseline: pycolmap %s", detail)
        else:
            LOG.warning("colmap_selfcalib baseline unavailable: %s; the report marks it unavailable", detail)
    options = RunOptions(
        depth_cap_m=args.depth_cap_m,
        max_frames=args.max_frames,
        n_depth_samples=args.figures,
        colmap=not args.no_colmap,
        colmap_timeout_s=args.colmap_timeout_s,
        corpus_fx_per_width=args.corpus_fx_per_width,
        estimator=config,
        gap_threshold_s=args.gap_threshold_s,
    )
    start = time.perf_counter()
    def estimator_factory(cfg: EstimatorConfig) -> Estimator:
        return Estimator(backend, metadata.intrinsics_prior, cfg)

    outcomes, failed, warnings = _run_sequences(folders, lambda sequence: _score(sequence, estimator_factory, options))
    settings = {
        "backend": backend.name,
        "network_input_size": list(backend.input_size),
        "estimator": {
            # "auto": per sequence, see sequences.<name>.settings.gap_threshold_s.
            "gap_threshold_s": GAP_AUTO if options.gap_threshold_s is None else options.gap_threshold_s,
            "gap_threshold_floor_s": config.gap_threshold_s if options.gap_threshold_s is None else None,
            "gap_frame_periods": GAP_FRAME_PERIODS if options.gap_threshold_s is None else None,
            "output_size": config.output_size,
            "intrinsics_window": config.intrinsics_window,
            # The model row's source; the report scores both (baselines "network" and "geometric").
            "pose_source": config.pose_source,
        },
        "depth_cap_m_override": options.depth_cap_m,
        "min_depth_m": options.min_depth_m,
        "max_frames": options.max_frames,
        "translation_noise_floor_m": options.noise_floor_m,
        "association_max_time_diff_s": options.max_time_diff_s,
        "sequences_args": [str(s) for s in args.sequences],
        "versions": _versions(),
        "seconds": round(time.perf_counter() - start, 2),
    }
    report = build_report(checkpoint, outcomes, settings, failed=failed, warnings=warnings)
    output: Path = args.output
    figures = _write_figures(outcomes, output.parent / FIGURES_DIR, args.figures) if args.figures else []
    write_json(report, output)
    markdown = output.with_suffix(".md")
    write_markdown(report, markdown, [str(p.relative_to(output.parent)) for p in figures])
    LOG.info("wrote %s, %s and %d figure(s) in %.1f s", output, markdown, len(figures), time.perf_counter() - start)
    if not outcomes:
        LOG.error("no sequence could be scored (%d failed, %d empty)", len(failed), len(warnings))
        return EXIT_FAILURE
    return EXIT_OK


def _run_sequences(
    folders: list[Path], score: Callable[[Any], Any]
) -> tuple[list[Any], dict[str, str], list[str]]:
    """Load and ``score`` each sequence folder, isolating read failures.

    Returns:
        ``(outcomes, failed, warnings)``: the :class:`SequenceOutcome` of each scored sequence; ``{name: reason}`` of
        the sequences that could not be read (malformed files, undecodable or 8-bit images, depth of another size
        than its image); and a warning per empty sequence (no frame in ``rgb.txt``).
    """
    import yaml

    from ss3d_core.io.tum_sequence import TumSequence

    outcomes, failed, warnings = [], {}, []
    for folder in folders:
        name = Path(folder).name
        try:
            sequence = TumSequence.load(folder)
            if not sequence.rgb:
                warnings.append(f"{name}: rgb.txt lists no frame; nothing to score")
                LOG.warning("%s", warnings[-1])
                continue
            LOG.info("sequence %s: %d frames", name, len(sequence.rgb))
            outcomes.append(score(sequence))
        except (ValueError, OSError, yaml.YAMLError) as err:
            failed[name] = f"{type(err).__name__}: {err}"
            LOG.error("sequence %s skipped: %s", name, failed[name])
    return outcomes, failed, warnings


def _score(sequence: Any, estimator_factory: Callable[[Any], Any], options: Any) -> Any:
    """:func:`~ss3d_eval.sequence_runner.run_sequence` on one sequence; logs its headline numbers."""
    from ss3d_eval.sequence_runner import run_sequence

    outcome = run_sequence(sequence, estimator_factory, options)
    depth, pose = outcome.result["depth"] or {}, outcome.result["pose"] or {}
    LOG.info("  %s: gap threshold %.3g s, AbsRel %s, rot %s deg (identity %s), tdir %s deg, fx err %s, "
             "colmap %s", sequence.name, outcome.result["settings"]["gap_threshold_s"],
             depth.get("abs_rel"), pose.get("rot_err_deg"),
             (outcome.result["baselines"]["identity_pose"]["pose"] or {}).get("rot_err_deg"),
             pose.get("tdir_err_deg"),
             (outcome.intrinsics or {}).get("fx_rel_err"),
             outcome.result["baselines"]["colmap_selfcalib"].get("status"))
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 ok, 2 bad arguments, 1 failure)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
        # evo logs every APE table at INFO; the numbers are in the report.
        logging.getLogger("evo").setLevel(max(logging.WARNING, logging.getLogger().level))
        return run(args, parser)
    except SystemExit as exit_:  # argparse usage errors (status 2) and --help (status 0)
        return int(exit_.code or 0)
    except Exception:
        LOG.exception("evaluation failed")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
