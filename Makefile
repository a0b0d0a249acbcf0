# credsvc — the two commands:
#   make run    set up what is missing, then Directus (127.0.0.1:8055) + credsvc (127.0.0.1:$PORT)
#   make test   set up what is missing, then all the tests (SQLite, PostgreSQL, multi-instance)
# Other targets: make unit | make lint | make mutants | make reset | make schema | make schema-build | make directus-app | make setup | make lock | make extension | make bench | make help

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.credsvc-setup-stamp
APT_PACKAGES := deploy/apt-packages.txt

.DEFAULT_GOAL := help
.PHONY: help run test unit bench test-postgres test-multi lint lock mutants reset schema schema-build directus-app setup venv apt directus extension

help:
	@sed -n '2,4p' Makefile | sed 's/^# *//'; echo; grep -E '^## ' Makefile | sed 's/^## /  make /'

## run: the local stack in the foreground; Ctrl-C stops both servers
run: setup
	$(PY) -m deploy.run

## extension: pack the browser extension (extension/) into dist/credsvc-extension.zip (docs/extension.md)
extension:
	$(PYTHON) -m deploy.package_extension

## test: unit + integration tests (each starts its own Directus), then test-postgres, test-multi
test: setup
	$(PY) -m pytest --ignore=tests/multi
	$(MAKE) --no-print-directory test-postgres test-multi

## unit: the unit tests only (no Directus, Directus mocked at the wire), on two processes
unit: setup
	$(PY) -m pytest -q -n 2 tests/unit

## test-postgres: the integration tests against Directus on a throwaway PostgreSQL (deploy/localdb.py)
test-postgres: setup
	CREDSVC_TEST_DB=postgres $(PY) -m pytest -q tests/integration

## test-multi: two Directus (one PostgreSQL, Redis) behind two credsvc instances (tests/multi)
test-multi: setup
	$(PY) -m pytest -q tests/multi

## bench: credsvc side by side with OpenBao and raw Directus; prints the table (docs/benchmarks.md)
bench: setup
	@$(MAKE) --no-print-directory apt APT_PACKAGES=bench/apt-packages.txt
	@$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.txt -e '.[bench]'
	$(PY) -m bench.run

## lock: rewrite requirements.txt (pinned runtime dependencies) from setup.cfg and .venv
lock: venv
	$(PY) -m deploy.lock

## lint: ruff's checks and its formatter (check only) over the Python code; needs only .venv
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## mutants: deliberate breaks of the security code; each must fail a unit test (tests/mutants.py)
mutants: setup
	$(PY) tests/mutants.py

## reset: delete the local data (Directus database, uploads, logs); keeps the installs and .env
reset:
	@if (exec 3<>/dev/tcp/127.0.0.1/8055) 2>/dev/null; then \
	  echo "Something listens on 127.0.0.1:8055: stop \`make run\` (Ctrl-C) first."; exit 1; fi
	rm -rf var/

## schema: apply deploy/directus/schema.yaml and the rewrap guard triggers to `make run`'s database (the Directus app's schema-apply; stop `make run` first)
schema: setup
	$(PY) -m deploy.run schema

## schema-build: regenerate deploy/directus/schema.yaml from deploy/directus/build_schema.py
schema-build: setup
	$(PY) -m deploy.directus.build_schema

## directus-app: assemble the deployable Directus app in DEST (docs/deployment.md)
directus-app: venv
	@[ -n "$(DEST)" ] || { echo "usage: make directus-app DEST=<empty or new folder>"; exit 1; }
	$(PY) -m deploy.directus.bundle "$(DEST)"

setup: apt venv directus

# .venv with the package and its test extras, the runtime dependencies at the versions of
# requirements.txt (`make lock`); reinstalled when setup.cfg, pyproject.toml or the lock change.
venv:
	@want=$$(cat setup.cfg pyproject.toml requirements.txt | sha256sum | cut -d' ' -f1); \
	if [ -x $(PY) ] && [ "$$(cat $(VENV_STAMP) 2>/dev/null)" = "$$want" ]; then exit 0; fi; \
	set -e; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV) \
	  || { echo "$(PYTHON) -m venv failed: \`make setup\` installs python3-venv (deploy/apt-packages.txt)"; exit 1; }; fi; \
	$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "$(VENV) needs Python >= 3.11 (PYTHON=$(PYTHON))"; exit 1; }; \
	echo "installing credsvc into $(VENV)"; \
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.txt -e '.[test]'; \
	echo "$$want" > $(VENV_STAMP)

# Node 22 + Directus 12.4.0 in deploy/directus; skipped when already installed from these lockfiles.
directus: apt
	@deploy/directus/install.sh

# Debian packages from deploy/apt-packages.txt that are not installed yet (apt-get update only if
# the install fails without it). Skipped on machines without dpkg.
apt:
	@command -v dpkg-query >/dev/null || exit 0; \
	missing=$$(for p in $$(sed 's/#.*//' $(APT_PACKAGES)); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	[ -z "$$missing" ] && exit 0; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "installing Debian packages: $$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get install -y --no-install-recommends $$missing \
	  || { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends $$missing; }
