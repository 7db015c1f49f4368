# Two set-up commands on a fresh machine: `make run` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Stages run `python` and `dvc` from the venv; nothing is downloaded at run time.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1
# The code defaults to sqlite:///<project root>/mlflow.db; MLFLOW_TRACKING_URI overrides it.
TRACKING_URI := $(or $(MLFLOW_TRACKING_URI),sqlite:///$(CURDIR)/mlflow.db)
export GIT_PYTHON_REFRESH := quiet

.PHONY: venv run test test-fast lint bench reliability ui clean

venv: $(STAMP)

# Re-installs only when pyproject.toml or a C extension (setup.py builds them) changes; a
# second `make` does nothing here.
$(STAMP): pyproject.toml setup.py src/vulnfusion/graphs/_cwalk.c src/vulnfusion/graphs/_reaching.c src/vulnfusion/_bytebpe.c $(wildcard third_party/tree-sitter/lib/src/*.[ch] third_party/tree-sitter/lib/include/*/*.h)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# The held-out demo pairs are evaluated again only when the registered model or the pairs
# changed, so a second `make run` stays a no-op (no new MLflow run); the figures print either way.
HELDOUT := data/heldout/demo_pairs.jsonl
HELDOUT_EVAL := reports/evaluations/demo-heldout

run: $(STAMP)
	$(BIN)/dvc repro
	@test ! -f reports/comparison.md || cat reports/comparison.md
	@$(MAKE) --no-print-directory $(HELDOUT_EVAL)/evaluation.md
	@echo "Held-out demo pairs ($(HELDOUT_EVAL)/evaluation.md):"
	@grep -E '^\| (pairs|P-[CVBR]|vulnerable twin)' $(HELDOUT_EVAL)/evaluation.md
	@echo "Open the MLflow UI with: make ui"

$(HELDOUT): $(STAMP)
	$(BIN)/python -m vulnfusion.data.demo.heldout $@

$(HELDOUT_EVAL)/evaluation.md: $(HELDOUT) reports/registered_model.json
	MLFLOW_TRACKING_URI="$(TRACKING_URI)" $(BIN)/vulnfusion evaluate $(HELDOUT) \
	  --name demo-heldout --output $(HELDOUT_EVAL) --no-progress

# Every core (pytest-xdist): a test module stays on one worker (tests/conftest.py).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src pipelines tests benchmarks
	$(BIN)/ruff format --check src pipelines tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --output reports/bench.json

# Faults and bad input end to end (real processes, DVC, MLflow server): reports/reliability.md
reliability: $(STAMP)
	VULNFUSION_RELIABILITY_REPORT=reports/reliability.md $(BIN)/python -m pytest -q -m reliability

# `make ui PORT=5001` for another port
PORT ?= 5000
ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri "$(TRACKING_URI)" --host 127.0.0.1 --port $(PORT)

clean:
	rm -rf data outputs reports/bench.* reports/comparison.* reports/plots
