# coachwh: the two commands a newcomer needs are `make demo` and `make test`.
# uv installs the pinned environment from uv.lock; it is bootstrapped with pip when missing.
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV_BIN := .venv/bin

.PHONY: install install-spark java browser demo test test-spark ui bench lint clean

install: .venv/.installed

# --inexact: the light install leaves the spark extra in place if `make test` installed it.
# --compile-bytecode: uv (unlike pip) writes no .pyc, and where PYTHONDONTWRITEBYTECODE is set
# Python never writes them either: every coachwh, dagster and dbt process would then recompile
# its imports from source (~2 s of each run's start, and of each dbt invocation).
.venv/.installed: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.9"
	$(UV) sync --frozen --all-groups --inexact --compile-bytecode
	@touch $@

## The install plus the optional `spark` extra (pyspark, dbt-spark) for the Spark dbt target.
install-spark: .venv/.installed-spark

.venv/.installed-spark: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.9"
	$(UV) sync --frozen --all-groups --extra spark --compile-bytecode
	@touch $@

## Java 17 for the local Spark (pyspark): Debian's headless JRE when no java is found.
java:
	@if command -v java >/dev/null 2>&1; then \
		echo "java: $$(java -version 2>&1 | head -1)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; \
	else \
		echo "java: no java and apt-get is not usable here; install Java 17 for the Spark tests"; exit 1; \
	fi

## Generate a realistic platform dataset, ingest it, build every model, run every check.
demo: install
	$(VENV_BIN)/coachwh demo

## Headless Chromium for the dashboard's browser test: Debian's chromium (and fonts) when missing.
## Where apt-get is not usable (not root, not Debian) it says so and goes on: the test then skips
## (and fails under CI=true).
browser:
	@if [ -x /usr/bin/chromium ]; then \
		echo "browser: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation) \
			|| echo "browser: apt-get could not install chromium; the dashboard's browser test will be skipped"; \
	else \
		echo "browser: no /usr/bin/chromium and apt-get is not usable here (needs root on Debian/Ubuntu); the dashboard's browser test will be skipped"; \
	fi

## The whole test suite (CI runs exactly this), the Spark equivalence tests included.
test: install-spark java browser
	$(VENV_BIN)/python -m pytest

## The same dbt project on DuckDB and a local Spark, marts compared row for row (docs/scale_out.md).
test-spark: install-spark java
	$(VENV_BIN)/python -m pytest -m spark

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
