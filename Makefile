# Kartoteka: the two commands a newcomer needs.
#   make run   - virtualenv, install, migrate, demo data and users, serve on 127.0.0.1:5000
#   make test  - virtualenv, install, the whole test suite on SQLite and PostgreSQL
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PG_ADMIN_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres install lock lint bench translations fuzz-api mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The exact versions in requirements.lock (pip-tools), the ranges in requirements*.txt.
install: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock

# After changing requirements*.txt: pin the versions again (tests/test_lock.py checks it).
lock: $(BIN)/python
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --no-header --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.lock requirements-dev.txt

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

# Extract every translatable string and merge it into both catalogs; new
# strings arrive untranslated and tests/test_i18n.py fails until they are.
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k ngettext:1,2 -k lazy_ngettext:1,2 --no-location --sort-output -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
	rm translations/messages.pot

# Schemathesis against the API's OpenAPI document for longer than the suite's run
fuzz-api: install
	API_FUZZ_EXAMPLES=300 API_FUZZ_SECONDS=1200 $(BIN)/pytest -q -s -p no:cacheprovider tests/test_api_fuzz.py

# Mutation testing (mutmut) of the access policy and the domain modules, one module at a
# time with the tests that cover it (tests/mutation.py), niced; figures per module in
# build/mutation/<module>.json. `make mutation MUTATE=app/access.py` runs one.
MUTATE ?=
mutation: install
	$(BIN)/python -m tests.mutation $(MUTATE)
