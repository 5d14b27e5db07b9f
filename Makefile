# The two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint format clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## make run: migrate the default SQLite database (instance/) and serve on http://$(HOST):$(PORT)
run: install
	BOOKSTORE_ENV=development $(BIN)/flask --app wsgi db upgrade
	BOOKSTORE_ENV=development $(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

## make test: the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
