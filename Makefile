# The two commands of the README work on a fresh machine with only python3 and make:
#   make run   -> .venv, install, migrate the embedded SQLite database, seed demo data, serve
#   make test  -> .venv, install, the whole test suite (SQLite and PostgreSQL)

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test check bench format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/creditbook db upgrade
	$(BIN)/creditbook demo --if-empty
	$(BIN)/creditbook serve

test: install
	$(BIN)/python -m pytest

check: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
