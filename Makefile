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

.PHONY: setup demo test test-all bench models models-streamnet models-v2i evidence \
	evidence-streamnet evidence-v2i lint clean

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

.PHONY: soak
soak: setup  # both nodes at 2x their rate, 10 min at 1920x1200; SOAK_ARGS=--force to redo
	$(PY) scripts/soak.py --out docs/soak $(SOAK_ARGS)

# The shipped bundles in models/, trained from scratch on CPU (about 30 min on 2 idle cores).
models: setup
	scripts/train_shipped_models.sh all
models-streamnet models-v2i: setup
	scripts/train_shipped_models.sh $(@:models-%=%)

# docs/EVIDENCE.md's tables, from runs trained first (the commands are in docs/EVIDENCE.md).
evidence: evidence-streamnet evidence-v2i
evidence-streamnet: setup
	$(PY) scripts/evidence_streamnet.py --out docs/streamnet_evidence_table.md
evidence-v2i: setup
	PY=$(PY) scripts/evidence_v2i.sh > docs/v2i_evidence_table.md.tmp
	mv docs/v2i_evidence_table.md.tmp docs/v2i_evidence_table.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
