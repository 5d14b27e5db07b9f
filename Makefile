# The two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install dev-install run demo test lint format clean bench bench-smoke bench-metrics bench-scale

# `make run` installs what serving needs; `make test` adds the test and lint tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev-install: $(VENV)/.dev-installed

## make run: migrate the default SQLite database (instance/) and serve on http://$(HOST):$(PORT)
run: install
	BOOKSTORE_ENV=development $(BIN)/flask --app wsgi db upgrade
	BOOKSTORE_ENV=development $(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

## make demo: migrate the same database and add the demo user and its books (idempotent)
demo: install
	BOOKSTORE_ENV=development $(BIN)/flask --app wsgi db upgrade
	BOOKSTORE_ENV=development $(BIN)/flask --app wsgi demo

## make test: the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)
test: dev-install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: Bookstore vs a bare-Flask ceiling vs the tutorial app, SQLite and
## PostgreSQL, under gunicorn, load from wrk; writes bench/results/latest.{md,json}
## (BENCH_ARGS="--profile" adds py-spy profiles). Not part of `make test`.
bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## make bench-smoke: the same harness in a few seconds, SQLite only, and the PostgreSQL floor (CI runs it)
bench-smoke: $(VENV)/.bench-installed
	$(BIN)/python -m bench.run --smoke $(BENCH_ARGS)
	$(BIN)/python -m bench.floor --rounds 1 --seconds 1

## make bench-metrics: the authenticated list with METRICS_ENABLED off vs on (~2 min)
bench-metrics: $(VENV)/.bench-installed
	$(BIN)/python -m bench.metrics_overhead $(BENCH_ARGS)

## make bench-scale: one user's page 1 and cursor page at 100 books, then with
## 1,000,000 books across 10,000 users on PostgreSQL (a few minutes; not in CI).
## BENCH_PG_URL names the server (a throwaway database is made next to it).
bench-scale: install
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

$(VENV)/.bench-installed: $(VENV)/.dev-installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

lint: dev-install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev-install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
