# Two commands for a new user: `make demo` and `make test`. Both bootstrap .venv from the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-reliability test-fast dev lint bench bench-quick clean install scale-test

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing Hunthouse and its locked dependencies into $(VENV) (first run: about a minute)..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hunthouse demo

# everything but the fault suite below: under 5 minutes on two quiet cores
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

# the fault suite (tests/conftest.py SLOW_MODULES): SIGKILLs, concurrent analysts, random service
# faults, crashes between publish steps, each replaying several nights; CI runs it after `make test`
test-reliability: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m slow

# the tier to run on every change (tests marked fast, see tests/conftest.py): under 60 s
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m fast -p no:xdist

# ruff, then the import contracts of pyproject.toml ([tool.importlinter]): layers point down only
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Scaled out on one machine (docs/deployment.md): Redis, Postgres, Azurite, the Dagster daemon and two
# Celery workers in their own mount namespaces. Installs what it needs first (as root: apt, npm, .venv-scale).
scale-test:
	bash scripts/scale-setup.sh
	PYTHONPATH=$(CURDIR) .venv-scale/bin/python -m pytest scale_tests -p no:xdist
	PYTHONPATH=$(CURDIR) .venv-scale/bin/python -m scale_tests.scale_run

dev: $(STAMP)
	$(BIN)/hunthouse dev

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf .hunthouse .pytest_cache .ruff_cache
