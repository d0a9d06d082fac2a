"""Every training config parses (LightningCLI/jsonargparse, nothing instantiated, no training): ``base.yaml`` alone
and base + each stage's override, with the run folder and its logger where the stage says."""

import sys
from pathlib import Path

import pytest

from training.fit.cli import BASE_CONFIG, CONFIG_DIR, SS3DCLI
from training.fit.datamodule import ClipDataModule
from training.fit.module import SS3DLightningModule

# Added on top of a stage, with no run folder of their own (the teacher: any stage; the K labels: the student).
ADD_ONS = {CONFIG_DIR / "sfm_teacher.yaml", CONFIG_DIR / "sfm_k_student.yaml", CONFIG_DIR / "sfm_teacher_student.yaml",
           CONFIG_DIR / "sfm_pose_student.yaml"}
STAGES = sorted(p for p in CONFIG_DIR.glob("*.yaml") if p != BASE_CONFIG and p not in ADD_ONS)


class ParseOnlyCLI(SS3DCLI):
    """Parses and validates the configuration; builds no trainer, model or data."""

    def instantiate_classes(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_pytest_arguments(monkeypatch):
    """LightningCLI warns when both ``args`` and a command line are present; here only ``args`` count."""
    monkeypatch.setattr(sys, "argv", ["training"])


def _parse(*args: str):
    return ParseOnlyCLI(SS3DLightningModule, ClipDataModule, run=False, args=list(args)).config


def test_every_config_file_is_the_base_or_a_stage():
    """What stays in training/configs/: make train's stages (stage1_photometric, stage2_joint, student_distill), the
    stage-1 ablation (stage1_intrinsics_first), the corpus-stage and fine-tuning commands of docs/training.md
    (corpus_stage1, warm_dashcam_labels); the six-stage recipe's configs were retired (docs/experiments.md)."""
    assert BASE_CONFIG.is_file()
    assert {p.stem for p in STAGES} == {"stage1_photometric", "stage2_joint", "student_distill",
                                        "stage1_intrinsics_first", "corpus_stage1", "warm_dashcam_labels"}


@pytest.mark.parametrize("stage", STAGES, ids=lambda p: p.stem)
def test_stage_config_parses_over_the_base(stage: Path):
    config = _parse("--config", str(BASE_CONFIG), "--config", str(stage), "--model.init_from", "out/train/prev/x")
    assert config.trainer.default_root_dir == f"out/train/{stage.stem}"
    assert config.trainer.logger.init_args.save_dir == config.trainer.default_root_dir
    assert config.model.init_from == "out/train/prev/x"  # stages chain by argument
    assert config.trainer.max_epochs and config.model.lr > 0
    callbacks = [c.class_path for c in config.trainer.callbacks]
    assert callbacks == ["training.fit.export.ExportCheckpoint", "lightning.pytorch.callbacks.ModelCheckpoint"]


def test_configs_hold_no_starting_weights():
    """No config names the weights it starts from: the chain is in the command line (Makefile, docs)."""
    for path in [BASE_CONFIG, *STAGES]:
        assert "init_from:" not in path.read_text(), path.name


def test_base_config_parses_alone():
    assert _parse("--config", str(BASE_CONFIG)).data.root == "../shared/data/web_clips"


def test_the_student_stacks_on_the_joint_stage():
    """make train's student is base + stage2_joint + student_distill (LightningCLI merges --config files in order)."""
    config = _parse("--config", str(BASE_CONFIG), "--config", str(CONFIG_DIR / "stage2_joint.yaml"),
                    "--config", str(CONFIG_DIR / "student_distill.yaml"))
    assert config.model.distill_weight == 1.0 and config.model.lr_scales["intrinsics"] == 0.1
    assert config.model.triangulation_weight == 1.0 and config.trainer.default_root_dir == "out/train/student_distill"


def test_the_sfm_teacher_adds_its_terms_to_a_stage_and_keeps_its_run_folder():
    """sfm_teacher.yaml is an add-on (the pipeline's sfm step adds it to every fit): it turns the four SfM terms on and
    points at the store, and the stage keeps its own run folder and recipe."""
    stage = ("--config", str(BASE_CONFIG), "--config", str(CONFIG_DIR / "stage1_photometric.yaml"))
    plain, teacher = _parse(*stage), _parse(*stage, "--config", str(CONFIG_DIR / "sfm_teacher.yaml"))
    assert plain.model.sfm_depth_weight == 0.0 and plain.data.sfm_dir is None
    assert (teacher.model.sfm_depth_weight, teacher.model.sfm_rotation_weight, teacher.model.sfm_translation_weight,
            teacher.model.sfm_intrinsics_weight) == (1.0, 10.0, 10.0, 1.0)
    assert teacher.data.sfm_dir == "out/sfm/web_clips"
    assert teacher.trainer.default_root_dir == plain.trainer.default_root_dir == "out/train/stage1_photometric"
    assert teacher.model.lr == plain.model.lr and teacher.trainer.max_epochs == plain.trainer.max_epochs


def test_the_k_labels_hold_the_students_focal_length_over_the_teachers_weight():
    """sfm_k_student.yaml (make train adds it to the student after sfm_teacher.yaml): the K term at weight 10 and K at
    the full rate, on the student's recipe and run folder; after the teacher's file its K weight (1) gives way."""
    student = ("--config", str(BASE_CONFIG), "--config", str(CONFIG_DIR / "stage2_joint.yaml"),
               "--config", str(CONFIG_DIR / "student_distill.yaml"))
    k_labels = ("--config", str(CONFIG_DIR / "sfm_k_student.yaml"))
    plain, held = _parse(*student), _parse(*student, *k_labels)
    assert held.model.sfm_intrinsics_weight == 10.0 and held.model.lr_scales["intrinsics"] == 1.0
    assert (held.model.sfm_depth_weight, held.model.sfm_rotation_weight, held.model.sfm_translation_weight) == (0, 0, 0)
    assert held.data.sfm_dir == "out/sfm/web_clips" and plain.data.sfm_dir is None
    assert held.trainer.default_root_dir == plain.trainer.default_root_dir == "out/train/student_distill"
    assert held.model.lr == plain.model.lr and held.model.distill_weight == plain.model.distill_weight
    both = _parse(*student, "--config", str(CONFIG_DIR / "sfm_teacher.yaml"), *k_labels)
    assert both.model.sfm_intrinsics_weight == 10.0 and both.model.sfm_rotation_weight == 10.0


def test_the_teacher_student_adds_pose_depth_and_one_focal_per_clip_to_the_k_labelled_student():
    """sfm_teacher_student.yaml (issue 33's arm, ``--step-config student=``, after sfm_k_student.yaml): the teacher's
    pose and depth terms at sfm_teacher.yaml's weights, the K labels still at 10, per-clip focal consistency, the
    student's run folder; its header holds the adoption rule written before the run."""
    student = ("--config", str(BASE_CONFIG), "--config", str(CONFIG_DIR / "stage2_joint.yaml"),
               "--config", str(CONFIG_DIR / "student_distill.yaml"), "--config", str(CONFIG_DIR / "sfm_k_student.yaml"))
    path = CONFIG_DIR / "sfm_teacher_student.yaml"
    held, arm = _parse(*student), _parse(*student, "--config", str(path))
    teacher = _parse(*student, "--config", str(CONFIG_DIR / "sfm_teacher.yaml"))
    assert (arm.model.sfm_depth_weight, arm.model.sfm_rotation_weight, arm.model.sfm_translation_weight) == (
        teacher.model.sfm_depth_weight, teacher.model.sfm_rotation_weight, teacher.model.sfm_translation_weight)
    assert arm.model.sfm_intrinsics_weight == held.model.sfm_intrinsics_weight == 10.0
    assert arm.model.clip_focal_consistency_weight > 0 and arm.model.sfm_intrinsics_per_clip
    assert held.model.clip_focal_consistency_weight == 0 and not held.model.sfm_intrinsics_per_clip
    assert arm.trainer == held.trainer and arm.data == held.data
    assert "ADOPTION RULE (issue 33" in path.read_text()


def test_the_pose_arm_drops_only_the_teachers_depth_term():
    """sfm_pose_student.yaml (issue 33's second arm, after sfm_teacher_student.yaml): the same student without the
    teacher's depth term; its header holds the rule and the reading written before the run."""
    student = ("--config", str(BASE_CONFIG), "--config", str(CONFIG_DIR / "stage2_joint.yaml"),
               "--config", str(CONFIG_DIR / "student_distill.yaml"), "--config", str(CONFIG_DIR / "sfm_k_student.yaml"),
               "--config", str(CONFIG_DIR / "sfm_teacher_student.yaml"))
    path = CONFIG_DIR / "sfm_pose_student.yaml"
    first, second = _parse(*student), _parse(*student, "--config", str(path))
    assert first.model.sfm_depth_weight > 0 and second.model.sfm_depth_weight == 0
    second.model.sfm_depth_weight = first.model.sfm_depth_weight
    assert second.model == first.model and second.trainer == first.trainer and second.data == first.data
    assert "ADOPTION RULE" in path.read_text() and "Reading fixed in advance" in path.read_text()


ABLATIONS = sorted((CONFIG_DIR / "ablation").glob("*.yaml"))


@pytest.mark.parametrize("ablation", ABLATIONS, ids=lambda p: p.stem)
def test_ablation_config_parses_over_a_stage_and_changes_it(ablation: Path):
    """The ablation arms' --fit-config / --step-config files (docs/training.md) stack on a stage and change it."""
    stage = ("--config", str(BASE_CONFIG), "--config", str(CONFIG_DIR / "stage2_joint.yaml"))
    plain, changed = _parse(*stage), _parse(*stage, "--config", str(ablation))
    assert changed != plain
    assert changed.trainer.default_root_dir == plain.trainer.default_root_dir  # the pipeline sets the run folder


def test_there_are_ablation_configs():
    assert {p.stem for p in ABLATIONS} >= {"budget", "given_k", "no_curriculum", "single_student", "stage1_epochs"}
