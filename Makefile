# resettable-spawner: one entry point for tests, the demo, images and compose.
# Every target installs and starts what it needs on a fresh Debian machine.

PYTHON      ?= python3
VENV        ?= .venv
VENV_HUB5   ?= .venv-hub5
HUB5_SPEC   ?= jupyterhub>=5,<6
# Set to an upstream single-user image (Jupyter's base-notebook) where a registry is
# reachable; empty means: build the local image without a registry.
SINGLEUSER_IMAGE ?=
PYTEST_ARGS ?=
UPSTREAM_IMAGES ?=
# The JupyterLab extension (labextension/): built in its own venv with jlpm, as a wheel
# in dist/ that installs without Node.js.
VENV_LAB    ?= .venv-labbuild
LABEXT_WHEEL = dist/resettable_spawner_labextension-0.1.0-py3-none-any.whl
LABEXT_INPUTS = $(wildcard labextension/*.json labextension/*.md labextension/LICENSE labextension/yarn.lock labextension/.yarnrc.yml \
  labextension/pyproject.toml labextension/src/*.ts labextension/style/* labextension/schema/*.json \
  labextension/tests/*.ts labextension/resettable_spawner_labextension/*.py)
COMPOSE     ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose) -p resettable-spawner

.PHONY: help test test-js test-fast host image labextension dist demo demo-stop up down logs clean bench bench-smoke

help:
	@echo "make demo   start a demo hub on http://127.0.0.1:8000 (Ctrl-C stops it)"
	@echo "make test   run every test against a real Docker Engine, hub, proxy and Chromium"
	@echo "make bench  run the benchmarks in benchmarks/ (writes benchmarks/results/)"
	@echo "make image  build the local single-user image (with the lab extension)"
	@echo "make labextension  build the JupyterLab extension's wheel into dist/"
	@echo "make dist   build both wheels into dist/ (this package's and the lab extension's)"
	@echo "make up / down / logs   the compose deployment"
	@echo "make clean  remove this project's containers, volumes and images"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[test,bench]"
	touch $@

$(VENV_HUB5)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_HUB5)
	$(VENV_HUB5)/bin/pip install -q -e . "$(HUB5_SPEC)"
	touch $@

host:
	scripts/ensure-host.sh

$(VENV_LAB)/.installed:
	$(PYTHON) -m venv $(VENV_LAB) >&2
	$(VENV_LAB)/bin/pip install -q "jupyterlab>=4.6,<5" build hatchling hatch-jupyter-builder >&2
	touch $@

# All output to stderr: `make -s image` prints only the image reference on stdout.
labextension: $(LABEXT_WHEEL)

$(LABEXT_WHEEL): $(VENV_LAB)/.installed $(LABEXT_INPUTS)
	cd labextension && export PATH="$(CURDIR)/$(VENV_LAB)/bin:$$PATH" && \
	  jlpm install >&2 && jlpm build:prod >&2 && jlpm test >&2
	PATH="$(CURDIR)/$(VENV_LAB)/bin:$$PATH" $(VENV_LAB)/bin/python -m build -q --wheel \
	  --no-isolation -o dist labextension >&2
	touch $@

# Both wheels into dist/, as the README's quick start installs them (no package of this
# name is on PyPI): the hub's (resettable_spawner-*.whl) and the lab extension's.
DIST_WHEEL = dist/resettable_spawner-0.1.0-py3-none-any.whl
DIST_INPUTS = pyproject.toml LICENSE README.md $(wildcard resettable_spawner/*.py resettable_spawner/*.yml \
  resettable_spawner/static/* resettable_spawner/event-schemas/* templates/*)

dist: $(DIST_WHEEL) $(LABEXT_WHEEL)

$(DIST_WHEEL): $(VENV_LAB)/.installed $(DIST_INPUTS)
	$(VENV_LAB)/bin/python -m build -q --wheel --no-isolation -o dist . >&2
	touch $@

# Prints nothing but the image reference on stdout, so recipes can capture it.
image: host $(VENV)/.installed
	@if [ -n "$(SINGLEUSER_IMAGE)" ]; then echo "$(SINGLEUSER_IMAGE)"; \
	else PYTHON=$(VENV)/bin/python scripts/build-image.sh singleuser; fi

# The page's pure JS module, with Node's own test runner (no npm packages).
test-js:
	node --test tests/js/

test: host test-js $(VENV)/.installed $(VENV_HUB5)/.installed
	@img=$$($(MAKE) -s image) && \
	RS_TEST_IMAGE="$$img" RS_HUB5_PYTHON="$(CURDIR)/$(VENV_HUB5)/bin/python" \
	  $(VENV)/bin/pytest $(PYTEST_ARGS)

demo: host $(VENV)/.installed
	@img=$$($(MAKE) -s image) && SINGLEUSER_IMAGE="$$img" $(VENV)/bin/python examples/demo.py

demo-stop:
	@-pkill -f "examples/demo.py" && echo "demo stopped" || echo "no demo running"

# No registry here: `make up` builds local hub and single-user images and passes them
# to compose. UPSTREAM_IMAGES=1 passes JUPYTERHUB_IMAGE and SINGLEUSER_IMAGE from the
# environment instead (compose.yml requires both).
up: host $(VENV)/.installed
	@if [ -n "$(UPSTREAM_IMAGES)" ]; then $(COMPOSE) up -d --build; else \
	  base=$$(PYTHON=$(VENV)/bin/python scripts/build-image.sh hub-base) && \
	  img=$$($(MAKE) -s image) && \
	  JUPYTERHUB_IMAGE="$$base" SINGLEUSER_IMAGE="$$img" $(COMPOSE) up -d --build; fi
	@echo "hub: http://127.0.0.1:$${HUB_PORT:-8000} (sign up as admin)"

down:
	$(COMPOSE) down

logs:
	$(COMPOSE) logs -f

bench: host $(VENV)/.installed
	@img=$$($(MAKE) -s image) && RS_TEST_IMAGE="$$img" $(VENV)/bin/python -m benchmarks.run_all

bench-smoke: host $(VENV)/.installed
	@img=$$($(MAKE) -s image) && RS_TEST_IMAGE="$$img" $(VENV)/bin/python -m benchmarks.run_all --smoke

clean:
	scripts/clean.sh
