"""``python -m training pipeline --workdir out/pipeline``: the whole SS3D training schedule, one step after another,
resumable (``make train`` runs it).

Steps, each in ``<workdir>/<step>/`` and marked finished by ``<workdir>/<step>/DONE`` (a finished step is skipped on a
rerun; delete its folder to redo it and everything after it that reads it):

0. ``sfm``: the classical SfM teacher, one COLMAP reconstruction per clip (:mod:`training.sfm.cli`) into the SfM
   store (``--sfm-dir``, default ``<workdir>/sfm``; a store that already holds a clip under the same key reuses it).
   Its store feeds the MVS scores (step 1). With ``--sfm-labels`` every fit also adds ``sfm_teacher.yaml`` (its K,
   pose and sparse-depth terms) with ``data.sfm_dir`` set to the store; not by default, because at equal steps the
   terms failed their adoption rule (fx error 0.167 -> 0.370, KITTI rotation 0.140° -> 0.204°, while depth and the
   translation direction improved; docs/experiments.md, "With and without the SfM teacher"). ``--no-sfm`` leaves the
   step out (the two-view MVS score; ``--sfm-labels`` then has no store and is refused). It gets the evaluation
   ``--sequences`` as ``--holdout-sequences`` too, so COLMAP never runs on a clip that step 1 holds out.
1. ``mvs``: the corpus manifest and the MVS-proxy scores of every clip (:mod:`training.corpus.mvs_cli`); with the SfM
   teacher, ``--sfm-dir`` the store of step 0, so the scores are the multi-view signal v2 (the reconstruction's
   rigid-explained fraction weighs each pair, :mod:`training.corpus.rigidity`). ``--holdout-sequences`` is the
   evaluation ``--sequences``: a clip sharing frames with one is held out (:mod:`training.data.holdout`), so no
   step after this one trains on an evaluation sequence. Every fit gets the same ``--sequences`` as
   ``data.holdout_sequences``: the scores' screening record names them, so the fits trust the ``holdout`` column and
   do not screen again.
2. ``domains``: the MVS filter and the domain of every kept clip, ``domains.csv`` (:mod:`training.corpus.domains`).
3. ``stage1``: stage 1 of the schedule from scratch (``stage1_photometric.yaml``, whose header says why it replaced
   ``stage1_intrinsics_first.yaml``). ``--no-stage1`` leaves it out: the experts and the student then start from the
   untrained network (the measurement of whether the joint stage gains more from stage 1's minutes, issue 33;
   give the student stage 1's epochs too with a ``student=`` step config setting ``trainer.max_epochs``).
4. ``expert_<domain>`` (only with ``--experts``): one expert per domain with at least ``--min-expert-clips`` clips:
   the joint recipe (``stage2_joint.yaml``) on that domain's clips, from stage 1's export.
5. ``student``: the joint recipe on every kept clip (``stage2_joint.yaml`` + ``student_distill.yaml``), from stage 1's
   export, with distillation from the experts when there are any: the network that ships. With the SfM step (the
   default) it also holds the store's K labels (``sfm_k_student.yaml``: the K term at weight 10, the intrinsics output
   at the full rate, ``data.sfm_dir`` the store): without them the focal length drifted low and failed the adoption
   rule (fx error 0.293; with them 0.137, docs/experiments.md, "The student with the SfM K labels"). Without
   ``--experts`` it is one model trained on every domain: at equal compute that arm beat experts → student on depth
   and rotation (docs/experiments.md, "Ablations at equal compute"), so it is the default until a full-length
   comparison says otherwise.
6. ``export``: the student's export copied to ``<workdir>/ss3d_small.{safetensors,json}``, loaded and run once on CPU.
7. ``eval``: ``python -m ss3d_eval`` on the evaluation sequences, ``<workdir>/eval/report.json``.
8. ``eval_shipped`` and ``adoption``: the same evaluation of the shipped checkpoint, and ``<workdir>/adoption.md``, the
   adoption rule written in ``student_distill.yaml`` applied to both reports (:mod:`training.pipeline.adoption`).
   Nothing is copied into ``ss3d_core/models``: adopting is a commit of ``<workdir>/ss3d_small.*`` when the verdict says
   so.

Every fit is ``python -m training fit`` (LightningCLI) with ``base.yaml`` plus the stage's override files, then
``--fit-config`` files (e.g. a smaller network or a step limit), then the ``--step-config`` files of its kind
(``stage1``, ``expert`` or ``student``, e.g. ``student=<file setting trainer.max_epochs>`` for an ablation at equal
compute), in a child process. An interrupted fit resumes from its
newest Lightning checkpoint (``<step>/logs/version_*/checkpoints/*.ckpt``, written every 50 steps and at each epoch end)
through ``--ckpt_path``. ``trainer.accelerator: auto`` in the stage configs uses a CUDA GPU when one is visible; batch
size and workers are the configs' ``data.batch_size`` / ``data.num_workers``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from training.corpus.curriculum import DEFAULT_MVS_MIN_SCORE
from training.corpus.domains import DOMAINS, domain_clips, write_domains
from training.fit.cli import BASE_CONFIG, CONFIG_DIR
from training.fit.export import EXPORT_NAME
from training.pipeline.adoption import write_verdict

LOG = logging.getLogger(__name__)

DONE = "DONE"
STAGE1 = (CONFIG_DIR / "stage1_photometric.yaml",)
EXPERT = (CONFIG_DIR / "stage2_joint.yaml",)
STUDENT = (CONFIG_DIR / "stage2_joint.yaml", CONFIG_DIR / "student_distill.yaml")
SFM_TEACHER = CONFIG_DIR / "sfm_teacher.yaml"
# The student's K labels from the SfM store (weight 10, K at the full rate): what made the 2026-12-03 run pass its
# adoption rule (fx error 0.293 -> 0.137 against the same run without them; docs/experiments.md).
SFM_K_STUDENT = CONFIG_DIR / "sfm_k_student.yaml"
# A domain with fewer clips trains no expert (its clips still train the student, self-supervised only): a couple of
# clips is one scene, not a domain, and an expert fitted to it would teach the student that scene's depth.
MIN_EXPERT_CLIPS = 3
# The kinds of fit a --step-config can address (every expert_<domain> step is an ``expert``).
FIT_KINDS = ("stage1", "expert", "student")


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest Lightning checkpoint (``.ckpt``, by modification time) under ``run_dir/logs``; ``None`` if none."""
    found = sorted((run_dir / "logs").glob("version_*/checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime_ns)
    return found[-1] if found else None


def max_epochs(configs: tuple[Path, ...], scale: float) -> int:
    """The last ``trainer.max_epochs`` among ``configs`` (base.yaml first) times ``scale``, rounded up (at least 1).

    Raises:
        ValueError: no config sets it.
    """
    epochs = None
    for path in (BASE_CONFIG, *configs):
        epochs = (yaml.safe_load(path.read_text()).get("trainer") or {}).get("max_epochs", epochs)
    if epochs is None:
        raise ValueError(f"no trainer.max_epochs in {[p.name for p in configs]}")
    return max(1, math.ceil(epochs * scale))


class Pipeline:
    """The steps of one ``--workdir`` (see the module docstring); :meth:`run` executes them.

    Args:
        workdir: the run folder.
        clips: corpus folder(s) (``python -m training mvs --clips``, ``data.root``).
        sequences: evaluation sequences (never trained on).
        fit_configs: extra ``--config`` files appended to every fit.
        step_configs: kind of fit (:data:`FIT_KINDS`) -> extra ``--config`` files appended after ``fit_configs``.
        epochs_scale: multiplies every stage's ``max_epochs``.
        min_score: the MVS filter (segments below do not train).
        min_expert_clips: smallest domain that gets an expert.
        mvs_args, eval_args, sfm_args: extra arguments of the ``mvs``, ``ss3d_eval`` and ``sfm`` commands.
        dry_run: print the commands, run nothing.
        sfm_dir: the SfM store (``None``: ``<workdir>/sfm``).
        use_sfm: run the ``sfm`` step (its store feeds the MVS scores).
        sfm_labels: every fit adds the teacher's loss terms (``sfm_teacher.yaml``); needs ``use_sfm``.
        use_experts: train the domain experts and distil them into the student.
        use_stage1: run stage 1 and start the experts and the student from its export (``False``: from scratch).
    """

    def __init__(self, workdir: Path, clips: list[str], sequences: list[str], fit_configs: list[Path],
                 step_configs: dict[str, list[Path]] | None = None, epochs_scale: float = 1.0,
                 min_score: float = DEFAULT_MVS_MIN_SCORE,
                 min_expert_clips: int = MIN_EXPERT_CLIPS, mvs_args: list[str] | None = None,
                 eval_args: list[str] | None = None, dry_run: bool = False, sfm_dir: Path | None = None,
                 use_sfm: bool = True, sfm_args: list[str] | None = None, use_experts: bool = False,
                 sfm_labels: bool = False, use_stage1: bool = True):
        self.workdir = workdir
        self.clips = clips
        self.sequences = sequences
        self.fit_configs = fit_configs
        self.step_configs = step_configs or {}
        unknown = set(self.step_configs) - set(FIT_KINDS)
        if unknown:
            raise ValueError(f"step configs for unknown fits {sorted(unknown)}; the fits are {FIT_KINDS}")
        self.epochs_scale = epochs_scale
        self.min_score = min_score
        self.min_expert_clips = min_expert_clips
        self.mvs_args = mvs_args or []
        self.eval_args = eval_args or []
        self.dry_run = dry_run
        self.sfm_dir = sfm_dir or workdir / "sfm"
        if sfm_labels and not use_sfm:
            raise ValueError("the SfM labels need the sfm step: --sfm-labels cannot go with --no-sfm")
        self.use_sfm = use_sfm
        self.sfm_labels = sfm_labels
        self.sfm_args = sfm_args or []
        self.use_experts = use_experts
        self.use_stage1 = use_stage1
        self.scores = workdir / "mvs" / "scores.csv"
        self.domains = workdir / "domains" / "domains.csv"
        self.export = workdir / EXPORT_NAME

    def _export_of(self, step: str) -> Path:
        return self.workdir / step / EXPORT_NAME

    def _step(self, name: str, action: Callable[[], None], describe: str) -> None:
        marker = self.workdir / name / DONE
        if marker.is_file():
            LOG.info("[%s] done already (%s), skipped", name, marker)
            return
        LOG.info("[%s] %s", name, describe)
        if self.dry_run:
            return
        (self.workdir / name).mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        action()
        marker.write_text(f"{time.monotonic() - start:.1f} s\n")
        LOG.info("[%s] finished in %.1f s", name, time.monotonic() - start)

    def _run(self, command: list[str]) -> None:
        LOG.info("$ %s", shlex.join(command))
        subprocess.run(command, check=True)

    def fit_command(self, step: str, stage_configs: tuple[Path, ...], overrides: list[str]) -> list[str]:
        """The ``python -m training fit`` command of one fit step (with ``--ckpt_path`` when it resumes)."""
        run_dir = self.workdir / step
        kind = "expert" if step.startswith("expert_") else step
        teacher = (SFM_TEACHER,) if self.sfm_labels else ()
        # After the teacher's file: its K weight (1) must not override the student's (10).
        k_labels = (SFM_K_STUDENT,) if kind == "student" and self.use_sfm else ()
        configs = (*stage_configs, *teacher, *k_labels, *self.fit_configs, *self.step_configs.get(kind, []))
        command = [sys.executable, "-m", "training", "fit", "--config", str(BASE_CONFIG)]
        for config in configs:
            command += ["--config", str(config)]
        command += ["--trainer.default_root_dir", str(run_dir),
                    "--trainer.max_epochs", str(max_epochs(configs, self.epochs_scale)),
                    "--data.root", json.dumps(self.clips), "--data.mvs_scores", str(self.scores),
                    "--data.holdout_sequences", json.dumps(self.sequences),
                    "--data.mvs_min_score", str(self.min_score), "--data.cache_dir", str(self.workdir / "cache"),
                    *(["--data.sfm_dir", str(self.sfm_dir)] if self.sfm_labels or k_labels else []), *overrides]
        resume = latest_checkpoint(run_dir)
        if resume is not None:
            command += ["--ckpt_path", str(resume)]
        return command

    def _fit(self, step: str, stage_configs: tuple[Path, ...], overrides: list[str]) -> None:
        command = self.fit_command(step, stage_configs, overrides)
        self._step(step, lambda: self._run(command), shlex.join(command[1:]))

    def _export_student(self) -> None:
        import torch

        from ss3d_core.checkpoint import load_checkpoint

        for suffix in (".safetensors", ".json"):
            shutil.copyfile(self._export_of("student").with_suffix(suffix), self.export.with_suffix(suffix))
        net, metadata = load_checkpoint(self.export, map_location="cpu")
        image = torch.rand(1, 3, metadata.architecture.input_height, metadata.architecture.input_width)
        with torch.no_grad():
            if not torch.isfinite(net(image, image).depth).all():
                raise RuntimeError(f"{self.export}: the exported network predicts non-finite depth on CPU")

    def experts(self) -> dict[str, list[str]]:
        """Domain -> clips of the domains that get an expert (every domain, no clips known, before ``domains``; none
        without ``use_experts``)."""
        if not self.use_experts:
            return {}
        if not self.domains.is_file():
            return {d: [] for d in DOMAINS}
        return {d: names for d, names in domain_clips(self.domains).items() if len(names) >= self.min_expert_clips}

    def run(self) -> None:
        """Run (or, with ``dry_run``, print) every step not yet done, in order.

        Raises:
            subprocess.CalledProcessError: a command failed (rerun to continue from there).
            RuntimeError: the export does not run on CPU.
        """
        if self.use_sfm:
            sfm = [sys.executable, "-m", "training", "sfm", "--clips", *self.clips, "--output", str(self.sfm_dir),
                   "--holdout-sequences", *self.sequences, *self.sfm_args]
            self._step("sfm", lambda: self._run(sfm), shlex.join(sfm[1:]))
        mvs = [sys.executable, "-m", "training", "mvs", "--clips", *self.clips, "--output", str(self.scores),
               *(["--sfm-dir", str(self.sfm_dir)] if self.use_sfm else []),
               "--holdout-sequences", *self.sequences, *self.mvs_args]
        self._step("mvs", lambda: self._run(mvs), shlex.join(mvs[1:]))
        self._step("domains", lambda: write_domains(self.scores, self.domains, self.min_score),
                   f"domains of the clips scoring >= {self.min_score} -> {self.domains}")
        init: list[str] = []
        if self.use_stage1:
            self._fit("stage1", STAGE1, [])
            init = ["--model.init_from", str(self._export_of("stage1"))]
        experts = self.experts()
        for domain, names in experts.items():
            self._fit(f"expert_{domain}", EXPERT, [*init, "--data.clips", json.dumps(names)])
        teachers = {d: str(self._export_of(f"expert_{d}")) for d in experts}
        distill = (["--model.distill_experts", json.dumps(teachers), "--model.distill_domains", str(self.domains)]
                   if teachers else ["--model.distill_weight", "0"])
        self._fit("student", STUDENT, [*init, *distill])
        self._step("export", self._export_student, f"{self._export_of('student')} -> {self.export}, run on CPU")
        report = self.workdir / "eval" / "report.json"
        evaluate = [sys.executable, "-m", "ss3d_eval", "--checkpoint", str(self.export), "--sequences",
                    *self.sequences, "--output", str(report), *self.eval_args]
        self._step("eval", lambda: self._run(evaluate), shlex.join(evaluate[1:]))
        shipped = self.workdir / "eval_shipped" / "report.json"
        evaluate_shipped = [sys.executable, "-m", "ss3d_eval", "--sequences", *self.sequences, "--output", str(shipped),
                            *self.eval_args]
        self._step("eval_shipped", lambda: self._run(evaluate_shipped), shlex.join(evaluate_shipped[1:]))
        verdict = self.workdir / "adoption.md"
        self._step("adoption", lambda: LOG.info("%s", write_verdict(report, shipped, verdict).markdown()),
                   f"adoption rule: {report} against {shipped} -> {verdict}")


def main(argv: list[str] | None = None) -> int:
    """Run the command (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m training pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("out/pipeline"))
    parser.add_argument("--clips", nargs="+", default=["../shared/data/web_clips"], help="training corpus folder(s)")
    parser.add_argument("--sequences", nargs="+", default=["../shared/data/sequences"],
                        help="evaluation sequences (never trained on)")
    parser.add_argument("--fit-config", type=Path, action="append", default=[],
                        help="extra --config for every fit (repeatable)")
    parser.add_argument("--step-config", action="append", default=[], metavar="KIND=FILE",
                        help=f"extra --config for one kind of fit, {'/'.join(FIT_KINDS)} (repeatable)")
    parser.add_argument("--max-epochs-scale", type=float, default=1.0, help="multiplies every stage's max_epochs")
    parser.add_argument("--min-score", type=float, default=DEFAULT_MVS_MIN_SCORE, help="MVS filter")
    parser.add_argument("--experts", action="store_true",
                        help="train one expert per domain and distil them into the student (default: one model)")
    parser.add_argument("--min-expert-clips", type=int, default=MIN_EXPERT_CLIPS)
    parser.add_argument("--mvs-args", default="", help="extra arguments of `python -m training mvs` (one string)")
    parser.add_argument("--eval-args", default="", help="extra arguments of `python -m ss3d_eval` (one string)")
    parser.add_argument("--sfm-dir", type=Path, help="the SfM teacher's store (default <workdir>/sfm)")
    parser.add_argument("--sfm-args", default="--jobs 2",
                        help="extra arguments of `python -m training sfm` (one string)")
    parser.add_argument("--no-sfm", action="store_true",
                        help="no SfM step: the MVS scores are the two-view proxy (the teacher's ablation)")
    parser.add_argument("--sfm-labels", action="store_true",
                        help="every fit adds the SfM teacher's loss terms (sfm_teacher.yaml; off by default: they "
                             "failed their equal-steps rule, docs/experiments.md)")
    parser.add_argument("--no-stage1", action="store_true",
                        help="no stage 1: the experts and the student start from the untrained network")
    parser.add_argument("--dry-run", action="store_true", help="print the steps and commands, run nothing")
    args = parser.parse_args(argv)
    if not args.max_epochs_scale > 0 or args.min_expert_clips < 1:
        parser.error("--max-epochs-scale must be > 0 and --min-expert-clips >= 1")
    step_configs: dict[str, list[Path]] = {}
    for item in args.step_config:
        kind, sep, path = item.partition("=")
        if not sep or not kind or not path:
            parser.error(f"--step-config {item!r}: expected KIND=FILE with KIND one of {FIT_KINDS}")
        step_configs.setdefault(kind, []).append(Path(path))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:  # the Pipeline checks the kinds
        pipeline = Pipeline(args.workdir, args.clips, args.sequences, args.fit_config, step_configs,
                            args.max_epochs_scale, args.min_score, args.min_expert_clips, shlex.split(args.mvs_args),
                            shlex.split(args.eval_args), args.dry_run, args.sfm_dir, not args.no_sfm,
                            shlex.split(args.sfm_args), args.experts, args.sfm_labels, not args.no_stage1)
    except ValueError as err:
        parser.error(str(err))
    try:
        pipeline.run()
    except subprocess.CalledProcessError as err:
        LOG.error("step failed (%s); rerun the same command to continue from there", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
