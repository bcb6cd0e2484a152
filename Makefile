# The two commands of the README: `make run` and `make test` do all the set-up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8080
STAMP  := $(VENV)/.installed
# Root installs system packages directly; others through sudo when it is there.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && { [ "$$(id -u)" = 0 ] || echo sudo; })

.PHONY: install run test test-deps lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  { echo "installing python3-venv (Debian)"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## run: create the virtualenv, migrate, crawl the sources on a schedule and serve on http://$(HOST):$(PORT)
run: install
	$(VENV)/bin/aggregator db upgrade
	$(VENV)/bin/aggregator run --host $(HOST) --port $(PORT)

## test-deps: what the browser and peer tests need besides Python: Debian's Chromium and axe-core
test-deps:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	@if [ -f package.json ]; then \
	  [ -d node_modules/axe-core ] || npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent; fi

## test: install what the tests need, check lint, types and layering, then run every test
test: install test-deps lint
	$(PY) -m pytest -q -p no:cacheprovider

## lint: ruff, mypy and the import-direction contracts
lint: install
	$(VENV)/bin/ruff check aggregator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## bench: the benchmarks (each prints one JSON line)
bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/crawl.py
	$(PY) bench/search.py
	$(PY) bench/web.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
