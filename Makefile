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

.PHONY: setup demo test test-all bench lint clean

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
