# Kartoteka: the two commands a newcomer needs.
#   make run   - virtualenv, install, migrate, demo data and users, serve on 127.0.0.1:5000
#   make test  - virtualenv, install, the whole test suite on SQLite and PostgreSQL
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PG_ADMIN_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres install lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt

run: install
	$(BIN)/python run.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install
	$(BIN)/python -m tests.run_suites

test-sqlite: install
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/pages.py
