# coachwh: the two commands a newcomer needs are `make demo` and `make test`.
# uv installs the pinned environment from uv.lock; it is bootstrapped with pip when missing.
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV_BIN := .venv/bin

.PHONY: install demo test ui bench lint clean

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.9"
	$(UV) sync --frozen --all-groups
	@touch $@

## Generate a realistic platform dataset, ingest it, build every model, run every check.
demo: install
	$(VENV_BIN)/coachwh demo

## The whole test suite (CI runs exactly this).
test: install
	$(VENV_BIN)/python -m pytest

## The Dagster UI on http://127.0.0.1:3000 (assets, checks, schedules, the landing sensor).
ui: install
	$(VENV_BIN)/coachwh ui

## The benchmark (1M and 10M events; not part of the tests). Results go to bench_results/.
bench: install
	$(VENV_BIN)/coachwh bench

lint: install
	$(VENV_BIN)/ruff check .

clean:
	rm -rf data dbt/target dbt/logs bench_results/tmp
