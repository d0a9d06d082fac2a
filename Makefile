# SS3D-ROS: `make demo` runs the node on the bundled real sample; `make test` runs the test suite.
# Both create .venv/ with the pinned requirements when it is missing or requirements.txt changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ss3d-installed
# Keep DDS discovery on this machine for the demo and tests.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: demo test venv mvs finetune train train-first train-finetune train-crop train-intrinsics train-triangulated train-labels eval clean

venv: $(STAMP)

$(STAMP): requirements.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m ss3d_ros.demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -q test

# MVS proxy scores of the shared web clips (the corpus stage's filter and curriculum read them), about 3 minutes.
mvs: $(STAMP)
	$(PY) -m training mvs --clips ../shared/data/web_clips --output out/mvs/web_clips/scores.csv

# Fine-tune on your own rosbag2 with a before/after report (training/finetune): make finetune BAG=my_run/ OUT=out/finetune/my_run
# [ARGS="--use-camera-info --groundtruth my_run_groundtruth.txt --max-minutes 20"]; rerun to resume.
finetune: $(STAMP)
	$(PY) -m training finetune --bag $(BAG) --out $(OUT) $(ARGS)

eval: $(STAMP)
	$(PY) -m ss3d_core.evaluation --sequences ../shared/data/sequences --output out/eval/report.json

# The bundled checkpoint: stage 1 from scratch, then five fine-tuning stages (2, 3, 4a intrinsics-first, 5 triangulated
# depth, 9 label-dominant warm restart with the dashcam-aware label gate), each starting from the previous export.
train: train-first train-finetune train-crop train-intrinsics train-triangulated train-labels

train-first: $(STAMP)
	$(PY) -m training fit --config training/configs/first_checkpoint.yaml

train-finetune: $(STAMP)
	$(PY) -m training fit --config training/configs/antisymmetric_finetune.yaml

train-crop: $(STAMP)
	$(PY) -m training fit --config training/configs/crop_finetune.yaml

train-intrinsics: $(STAMP)
	$(PY) -m training fit --config training/configs/intrinsics_first.yaml

train-triangulated: $(STAMP)
	$(PY) -m training fit --config training/configs/triangulated_depth.yaml

train-labels: $(STAMP)
	$(PY) -m training fit --config training/configs/warm_dashcam_labels.yaml

clean:
	rm -rf out build install log
