# rnnlab — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# This machine installs a local CPU build of torch; GPU users may set TORCH_SPEC=torch.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install train test test-fast lint format tensorboard compare figures bench clean \
	predict export

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev,sweep,mlflow,ucr,anomaly,stats,export]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project (re-runs when pyproject.toml changes)

train: install ## Train with the default config; pass overrides as ARGS="backbone=gru seed=1"
	$(PY) train.py $(ARGS)

predict: install ## Forecast beyond new data: make predict RUN=logs/train/runs/<time> ARGS="data.path=new.csv"
	$(PY) predict.py run_dir=$(RUN) $(ARGS)

export: install ## Export a run's model: make export RUN=logs/train/runs/<time> ARGS="format=torchscript"
	$(PY) export.py run_dir=$(RUN) $(ARGS)

test: install ## Run the test suite
	$(PY) -m pytest $(ARGS)

test-fast: install ## Run the tests that do not start training processes
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: install ## Check lint and formatting with ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## Fix lint and format with ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

compare: install ## Table + chart of a sweep: make compare DIR=logs/train/multiruns/<time> (default: newest)
	$(PY) -m rnnlab.report.compare $(DIR)

bench: install ## Speed, memory and accuracy figures (table + benchmarks/results/latest.json); ARGS="--quick"
	$(PY) benchmarks/bench.py $(ARGS)

FIG_RUN ?= logs/figures/readme
figures: install ## README pictures: train the default model, copy its plots to docs/images/
	rm -rf $(FIG_RUN)
	$(PY) train.py hydra.run.dir=$(FIG_RUN) $(ARGS)
	$(PY) -m rnnlab.report.figures $(FIG_RUN) docs/images

tensorboard: install ## Serve TensorBoard over logs/ (LOGDIR=... to change)
	$(VENV)/bin/tensorboard --logdir $(or $(LOGDIR),logs)

clean: ## Remove caches and build files (keeps logs/ and .venv)
	rm -rf .pytest_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -exec rm -rf {} +
