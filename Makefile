# The two commands of the README: `make run` and `make test` do all the set-up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8080
STAMP  := $(VENV)/.installed
# Root installs system packages directly; others through sudo when it is there.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && { [ "$$(id -u)" = 0 ] || echo sudo; })

.PHONY: install run test screenshots test-deps test-deploy deploy-deps deploy-images deploy-stack lint bench clean

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

## test: install what the tests need, check lint, types and layering, then run every test;
## the deployment's images are prepared in the background meanwhile, and its stack test
## runs last (test-deploy)
test: install test-deps deploy-deps lint
	@mkdir -p .tmp; \
	$(PY) -m tests.deploy.images > .tmp/deploy-images.log 2>&1 & images=$$!; \
	$(PY) -m pytest -q -p no:cacheprovider -m 'not deploy' --durations=15; status=$$?; \
	wait $$images || { cat .tmp/deploy-images.log; echo "preparing the deployment images failed"; exit 1; }; \
	tail -n 1 .tmp/deploy-images.log; \
	[ $$status -eq 0 ] || exit $$status; \
	$(MAKE) --no-print-directory deploy-stack

## screenshots: refresh the README's screenshots (docs/screenshots/*.png) from the browser
## tests; the tests themselves (make test) write theirs to a temporary folder
screenshots: install test-deps
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q -p no:cacheprovider tests/web/test_browser.py -k photographed

# podman and what it needs to run the compose stack here (Debian), podman-compose (PyPI)
DEPLOY_PKGS := podman runc catatonit netavark aardvark-dns iptables debootstrap

## deploy-deps: podman (Debian) and podman-compose (PyPI) for the deployment test
deploy-deps: install
	@missing=""; for p in $(DEPLOY_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing$$missing (Debian)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@$(PY) -c 'import podman_compose' 2>/dev/null || $(PY) -m pip install -q -e '.[deploy]'

## deploy-images: the local base images (cached) and the project's image from the Dockerfile
deploy-images: deploy-deps
	$(PY) -m tests.deploy.images

deploy-stack:
	AGGREGATOR_DEPLOY_REQUIRED=1 $(PY) -m pytest -q -p no:cacheprovider -m deploy tests/deploy

## test-deploy: build the image and run docker-compose.yml with podman (tests/deploy)
test-deploy: deploy-images
	$(MAKE) --no-print-directory deploy-stack

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
