# Two entry points (see README): `make report` runs the tutorial's report, `make test` the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAFT_MNIST_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: report test install docs

install: $(VENV)/.installed

# torch is pinned to the CPU build first; the project's range then installs nothing more.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,docs,ray]"
	touch $@

report: install
	$(BIN)/daft-mnist evaluate

test: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo 'pytest ran no test' >&2; exit 1; fi; exit $$rc
	$(MAKE) docs

# Renders the real outputs (pictures, tables) into docs/generated/ (git-ignored), then builds the site.
docs: install
	$(BIN)/python scripts/render_docs_assets.py
	$(BIN)/mkdocs build --strict
