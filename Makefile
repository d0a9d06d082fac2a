# SS3D-ROS: `make demo` runs the node on the bundled real sample; `make test` runs the test suite.
# Both create .venv/ with the pinned requirements when it is missing or requirements.txt changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ss3d-installed
# Keep DDS discovery on this machine for the demo and tests.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: demo test venv mvs sfm finetune train eval clean

venv: $(STAMP)

$(STAMP): requirements.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m ss3d_ros.tools.demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -q test

# MVS proxy scores of the shared web clips (the corpus stage's filter and curriculum read them), about 3 minutes; clips
# sharing frames with the evaluation sequences are held out (training/data/holdout.py).
# When the SfM store of `make sfm` exists (out/sfm/web_clips/summary.csv), this same target adds it (--sfm-dir): the
# multi-view signal v2, about 5 minutes in all (docs/corpus_stage.md); without it, the two-view proxy alone.
SFM_STORE := out/sfm/web_clips
mvs: $(STAMP)
	$(PY) -m training mvs --clips ../shared/data/web_clips --output out/mvs/web_clips/scores.csv \
		--holdout-sequences ../shared/data/sequences $(if $(wildcard $(SFM_STORE)/summary.csv),--sfm-dir $(SFM_STORE))

# The SfM teacher: one COLMAP reconstruction per shared web clip (K, poses, sparse depth), stored once per clip
# (training/sfm, docs/sfm_teacher.md); a rerun reuses what is stored. ARGS e.g. "--shard 0/2" or "--timeout-s 1800".
# Clips sharing frames with the evaluation sequences are skipped, as make mvs holds them out.
sfm: $(STAMP)
	$(PY) -m training sfm --clips ../shared/data/web_clips --output $(SFM_STORE) --jobs 2 \
		--holdout-sequences ../shared/data/sequences $(ARGS)

# Fine-tune on your own rosbag2 with a before/after report (training/finetune): make finetune BAG=my_run/ OUT=out/finetune/my_run
# [ARGS="--use-camera-info --groundtruth my_run_groundtruth.txt --max-minutes 20"]; rerun to resume.
finetune: $(STAMP)
	$(PY) -m training finetune --bag $(BAG) --out $(OUT) $(ARGS)

eval: $(STAMP)
	$(PY) -m ss3d_eval --sequences ../shared/data/sequences --output out/eval/report.json

# The SS3D schedule in one resumable command (training/pipeline/schedule.py, docs/training.md), the bundled
# checkpoint's: SfM teacher + MVS -> filter and domains -> stage 1 from scratch -> the joint stage with the SfM K labels
# (one model; experts -> distilled student with ARGS=--experts) -> export (checked on CPU) -> ss3d_eval. Rerun after an
# interruption to continue; WORKDIR holds every step; ARGS e.g. "--max-epochs-scale 0.5" or "--dry-run". The adoption
# rule of the result is in training/configs/student_distill.yaml.
WORKDIR ?= out/pipeline
train: $(STAMP)
	$(PY) -m training pipeline --workdir $(WORKDIR) $(ARGS)

clean:
	rm -rf out build install log
