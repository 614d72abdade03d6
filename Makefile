# Peelian: the two set-up commands are `make demo` and `make test`.
# Both create .venv (Python 3.11+) and install exactly what uv.lock pins.

PYTHON ?= python3
VENV   := .venv
UV     := $(VENV)/bin/uv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.8
DEMO_DIR ?= demo

export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_NO_PROGRESS := 1

.PHONY: install demo test lint format typecheck pytest clean lock

$(VENV)/.installed: pyproject.toml uv.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Peelian needs Python 3.11 or newer (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/peelian demo --out $(DEMO_DIR) --force

test: install lint typecheck pytest

lint:
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -q

lock:
	$(UV) lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
