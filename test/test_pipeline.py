"""``python -m training pipeline`` (training/pipeline/schedule.py): a tiny end-to-end run on CPU (tiny network, two tiny
clips, a few steps per stage) that is killed in stage 1 and resumed, and the step bookkeeping.

The killed fit is a real child process (``python -m training fit``, ended by ``os._exit``); the other steps' commands
run in the test process (:func:`in_process.run_module`: the same command line through the same ``__main__``, without
paying the imports of torch and Lightning once per step)."""

import json
import logging

import cv2
import pytest
import torch
import yaml
from conftest import FIXTURES, SAMPLE_VIDEO
from in_process import run_module

from ss3d_core.checkpoint import load_checkpoint
from training.fit.cli import CONFIG_DIR
from training.pipeline.schedule import DONE, Pipeline, latest_checkpoint, main, max_epochs

TINY_FIT = {
    "trainer": {"accelerator": "cpu", "max_epochs": 1, "max_steps": 3, "limit_val_batches": 1,
                "num_sanity_val_steps": 0, "log_every_n_steps": 1,
                "callbacks": [{"class_path": "training.fit.export.ExportCheckpoint"},
                              {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                               "init_args": {"every_n_epochs": None, "every_n_train_steps": 1}}]},
    "model": {"net": {"encoder_channels": [8, 8, 16, 16, 32], "decoder_channels": [8, 8, 8, 16, 16],
                      "motion_channels": 32, "input_height": 64, "input_width": 96}},
    "data": {"height": 64, "width": 96, "target_rate_hz": 5.0, "batch_size": 2, "num_workers": 0,
             "val_fraction": 0.2, "flow_match_check": False},
}


def _corpus(root):
    """Two tiny real clips: 8 frames of the bundled dashcam video (every 3rd, 320×180), and a sideways pan over its
    first frame (8 crops sliding right, 320×200)."""
    from ss3d_core.io.video import iter_video_frames

    drive = [cv2.resize(rgb, (320, 180), interpolation=cv2.INTER_AREA)
             for _, rgb in iter_video_frames(SAMPLE_VIDEO, stride=3, max_frames=8)]
    pan = [cv2.resize(drive[0][10:170, 10 * k: 10 * k + 240], (320, 200)) for k in range(8)]
    for name, frames in (("drive", drive), ("pan", pan)):
        (root / name / "frames").mkdir(parents=True)
        for k, rgb in enumerate(frames):
            cv2.imwrite(str(root / name / "frames" / f"{k:02d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (root / "clips.csv").write_text("name,kind,label,consecutive,licence\ndrive,frames,,True,MIT\n"
                                    "pan,frames,,True,MIT\n")


def _args(tmp_path, *fit_configs):
    return ["--workdir", str(tmp_path / "run"), "--clips", str(tmp_path / "clips"),
            "--sequences", str(FIXTURES / "tum_fr1_xyz_pair1"), "--min-score", "0",
            "--experts", "--min-expert-clips", "1",
            "--mvs-args", "--pairs-per-segment 2 --target-rate-hz 5", "--eval-args", "--no-colmap --backend torch",
            "--sfm-args", "--target-rate-hz 5 --timeout-s 120", "--sfm-labels",
            *[a for c in fit_configs for a in ("--fit-config", str(c))]]


def test_killed_in_stage_1_the_rerun_resumes_and_ends_with_an_evaluated_cpu_export(tmp_path, monkeypatch):
    _corpus(tmp_path / "clips")
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(TINY_FIT))
    kill = tmp_path / "kill.yaml"
    callbacks = [*TINY_FIT["trainer"]["callbacks"],
                 {"class_path": "pipeline_interrupt.ExitAtStep", "init_args": {"step": 2}}]
    kill.write_text(yaml.safe_dump({"trainer": {"callbacks": callbacks}}))
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES.parent))
    # One OpenMP thread per fit process: on 2 cores shared with another training run, two spinning threads made a
    # tiny fit 8x slower (49 s against 6 s).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    child_process = Pipeline._run
    monkeypatch.setattr(Pipeline, "_run", lambda self, command: child_process(self, command) if str(kill) in command
                        else run_module(command))
    run = tmp_path / "run"

    assert main(_args(tmp_path, tiny, kill)) == 1  # the stage-1 fit process dies at step 2
    assert (run / "mvs" / DONE).is_file() and (run / "domains" / DONE).is_file()
    assert not (run / "stage1" / DONE).exists()
    interrupted = latest_checkpoint(run / "stage1")
    assert interrupted is not None

    pipeline = Pipeline(run, [str(tmp_path / "clips")], [], [tiny])
    assert pipeline.fit_command("stage1", (), [])[-2:] == ["--ckpt_path", str(interrupted)]
    assert main(_args(tmp_path, tiny)) == 0
    domains = {line.split(",")[0]: line.split(",")[1]
               for line in (run / "domains" / "domains.csv").read_text().splitlines()[1:]}
    assert set(domains) == {"drive", "pan"}
    steps = ["sfm", "mvs", "domains", "stage1", *sorted(f"expert_{d}" for d in set(domains.values())), "student",
             "export", "eval", "eval_shipped", "adoption"]
    assert sorted(p.parent.name for p in run.glob(f"*/{DONE}")) == sorted(steps)
    _, stage1 = load_checkpoint(run / "stage1" / "ss3d_small")
    assert stage1.training["global_step"] == 3  # resumed at step 1, not restarted: the limit counts over both runs
    student_hparams = yaml.safe_load(next((run / "student" / "logs").glob("version_*/hparams.yaml")).read_text())
    assert student_hparams["distill_weight"] == 1.0
    assert student_hparams["sfm_rotation_weight"] > 0  # --sfm-labels: the SfM teacher's terms are on in every fit
    assert student_hparams["sfm_intrinsics_weight"] == 10.0  # the student's K labels (sfm_k_student.yaml) win
    assert (run / "sfm" / "summary.csv").is_file()
    assert set(student_hparams["distill_experts"]) == set(domains.values())
    metrics = (next((run / "student" / "logs").glob("version_*/metrics.csv"))).read_text()
    assert "train/distill_depth" in metrics
    # The frozen experts stay out of the student's Lightning checkpoint (and so out of its export).
    student_ckpt = torch.load(latest_checkpoint(run / "student"), map_location="cpu", weights_only=False)
    assert student_ckpt["state_dict"] and all(k.startswith("net.") for k in student_ckpt["state_dict"])
    net, meta = load_checkpoint(run / "ss3d_small", map_location="cpu")
    assert meta.architecture.input_width == 96
    report = json.loads((run / "eval" / "report.json").read_text())
    assert report["sequences"], report.keys()
    verdict = (run / "adoption.md").read_text()
    depth_groups = {s.get("group") for s in report["sequences"].values() if s.get("depth")}
    # One line per aggregate of the rule (depth, the network's rotation, fx) and per depth group of the data.
    assert verdict.count(": ok") + verdict.count(": fails") == 3 + len(depth_groups) and "abs_rel" in verdict
    stamps = {p: p.stat().st_mtime_ns for p in run.glob(f"*/{DONE}")}
    assert main(_args(tmp_path, tiny)) == 0  # everything done: nothing reruns
    assert {p: p.stat().st_mtime_ns for p in run.glob(f"*/{DONE}")} == stamps


def test_dry_run_lists_every_step_and_runs_nothing(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="training.pipeline.schedule"):
        assert main(["--workdir", str(tmp_path / "run"), "--dry-run", "--experts"]) == 0
    text = caplog.text
    for step in ("[sfm]", "[mvs]", "[domains]", "[stage1]", "[expert_forward]", "[expert_near_field]",
                 "[expert_far_field]", "[student]", "[export]", "[eval]"):
        assert step in text
    assert "stage1_photometric.yaml" in text and "student_distill.yaml" in text
    assert "sfm_teacher.yaml" not in text  # the teacher's terms failed their rule: opt-in
    lines = text.splitlines()
    for fit in ("[stage1]", "[expert_forward]"):  # only the student reads the store (its K labels)
        line = next(x for x in lines if fit in x)
        assert "--data.sfm_dir" not in line and "sfm_k_student.yaml" not in line
    student_line = next(x for x in lines if "[student]" in x)
    assert "sfm_k_student.yaml" in student_line and f"--data.sfm_dir {tmp_path / 'run' / 'sfm'}" in student_line
    mvs_line = next(line for line in text.splitlines() if "[mvs]" in line)
    assert f"--sfm-dir {tmp_path / 'run' / 'sfm'}" in mvs_line  # the scores read the teacher's store
    assert "--holdout-sequences ../shared/data/sequences" in mvs_line  # the evaluation sequences never train
    sfm_line = next(line for line in text.splitlines() if "[sfm]" in line)
    assert "--holdout-sequences ../shared/data/sequences --jobs 2" in sfm_line  # nor get COLMAP labels
    assert not (tmp_path / "run").exists()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="training.pipeline.schedule"):  # the default: one model, no experts
        assert main(["--workdir", str(tmp_path / "run"), "--dry-run", "--no-sfm"]) == 0
    assert "[expert_" not in caplog.text and "[student]" in caplog.text and "distill_weight 0" in caplog.text
    assert "[sfm]" not in caplog.text and "sfm_teacher.yaml" not in caplog.text and "--sfm-dir" not in caplog.text
    assert "sfm_k_student.yaml" not in caplog.text and "--data.sfm_dir" not in caplog.text  # no store, no K labels
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="training.pipeline.schedule"):
        assert main(["--workdir", str(tmp_path / "run"), "--dry-run", "--sfm-labels"]) == 0
    fits = [line for line in caplog.text.splitlines() if "[stage1]" in line or "[student]" in line]
    assert len(fits) == 2 and all("sfm_teacher.yaml" in f and "--data.sfm_dir" in f for f in fits)
    student_line = fits[1]  # the student's K weight (10) comes after the teacher's (1), so it holds
    assert student_line.index("sfm_teacher.yaml") < student_line.index("sfm_k_student.yaml")
    with pytest.raises(SystemExit):  # labels without the step that makes them
        main(["--workdir", str(tmp_path / "run"), "--dry-run", "--sfm-labels", "--no-sfm"])


def test_no_stage1_starts_the_experts_and_the_student_from_scratch(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="training.pipeline.schedule"):
        assert main(["--workdir", str(tmp_path / "run"), "--dry-run", "--experts", "--no-stage1"]) == 0
    lines = caplog.text.splitlines()
    assert not any("[stage1]" in line for line in lines)
    fits = [line for line in lines if "[expert_" in line or "[student]" in line]
    assert len(fits) == 4 and not any("--model.init_from" in line for line in fits)


def test_epochs_come_from_the_stage_configs_scaled():
    assert max_epochs((CONFIG_DIR / "stage1_intrinsics_first.yaml",), 1.0) == 8
    assert max_epochs((CONFIG_DIR / "stage2_joint.yaml", CONFIG_DIR / "student_distill.yaml"), 0.25) == 3
    with pytest.raises(ValueError, match="max_epochs"):
        max_epochs((), 1.0)


def test_step_configs_reach_only_their_kind_of_fit(tmp_path):
    student_epochs = tmp_path / "student_epochs.yaml"
    student_epochs.write_text("trainer:\n  max_epochs: 5\n")
    pipeline = Pipeline(tmp_path / "run", ["clips"], [], [], {"student": [student_epochs]})
    student = pipeline.fit_command("student", (), [])
    assert student[student.index("--trainer.max_epochs") + 1] == "5" and str(student_epochs) in student
    for step in ("stage1", "expert_forward"):
        command = pipeline.fit_command(step, (CONFIG_DIR / "stage2_joint.yaml",), [])
        assert str(student_epochs) not in command and command[command.index("--trainer.max_epochs") + 1] == "12"
    with pytest.raises(ValueError, match="unknown fits"):
        Pipeline(tmp_path / "run", ["clips"], [], [], {"teacher": [student_epochs]})
    with pytest.raises(SystemExit):
        main(["--workdir", str(tmp_path / "run"), "--step-config", "student", "--dry-run"])
