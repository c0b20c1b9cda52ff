# make run   - set up and start the server on the embedded default (SQLite + ./data)
# make test  - set up and run lint and the whole test suite (SQLite and MySQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run serve test lint fix db-upgrade bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run serve: $(STAMP)
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

db-upgrade: $(STAMP)
	$(BIN)/workspace migrate

bench: $(STAMP)
	$(BIN)/python bench/contacts.py
