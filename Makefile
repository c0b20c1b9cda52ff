# make run   - set up and start the server on the embedded default (SQLite + ./data);
#              WORKSPACE_PORT=8080 make run picks the port
# make test  - set up and run lint and the whole test suite (SQLite and MySQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per dependency set: the server installs only what it runs on (the runtime
# dependencies); the test tools (moto and its Flask and Docker clients, Playwright, mypy...)
# come with the first test or lint target.
RUNTIME := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed-test

.PHONY: run serve test lint fix db-upgrade bench

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run serve: $(RUNTIME)
	$(BIN)/workspace serve

test: $(STAMP)
	./scripts/test-services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fix: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

db-upgrade: $(RUNTIME)
	$(BIN)/workspace migrate

bench: $(STAMP)
	$(BIN)/python bench/contacts.py
