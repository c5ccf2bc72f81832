# transport-bench: `make bench` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The Lambda emulator's DynamoDB (dynalite, from npm), pinned by its package-lock.json.
DYNALITE_DIR := servers/lambda_ws/dynalite
DYNALITE     := $(DYNALITE_DIR)/node_modules/.package-lock.json

.PHONY: install system-packages test test-fast lint typecheck pytest bench soak clean lock \
	compose-nginx compose-test compose-test-if-engine docs docs-check

install: system-packages $(STAMP) $(DYNALITE)

# The Debian packages in scripts/system-packages.txt: installed as root, else named with the
# command that installs them. Quick when none is missing.
system-packages:
	@scripts/install-system-packages.sh

# Reinstall only when the dependency list or its lock changes; otherwise a no-op. The dev lock's
# exact versions (`make lock`); a dependency added since the last lock comes in unpinned.
# uv (the lock's pin, from pip) installs them: 40 s on a fresh machine, where pip took 98 s.
# Compiled to bytecode at once, as pip does: left to first use, every process of the first
# test run compiles its imports (the Lambda emulator's cold starts, boto3's, took seconds).
UV_PIN = $(shell grep -m1 '^uv==' requirements-dev.lock | cut -d' ' -f1)
$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check '$(UV_PIN)'
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python \
		-r requirements-dev.lock -e '.[dev]'
	@touch $(STAMP)

# npm ci: exactly the lockfile's versions. No install scripts: dynalite keeps its tables in
# memory, so the native LevelDB binding it can build is never loaded.
$(DYNALITE): $(DYNALITE_DIR)/package.json $(DYNALITE_DIR)/package-lock.json
	cd $(DYNALITE_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the floors of pyproject.toml's [tool.importlinter]

typecheck: install
	$(BIN)/mypy

# pytest-xdist, each test file on one worker (its module-scoped servers start once). Three
# workers on two cores: the load-run tests mostly wait out their scenarios' fixed durations
# (the faults run: 51 CPU-s in 183 s). PYTEST_WORKERS=0 runs in this process, serially.
PYTEST_WORKERS ?= 3
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile
pytest: install
	$(PYTEST)

# The unit layer alone (not the files marked slow: servers, runs, browsers), in about a minute.
test-fast: install
	$(PYTEST) -m "not slow" --durations=10

# The compose test last: where no Docker engine can run it prints "SKIPPED: <why>" and passes.
# Each step is timed, and the times are printed at the end (scripts/timed-steps.sh).
TEST_STEPS := install lint docs-check typecheck pytest compose-test-if-engine
test:
	@scripts/timed-steps.sh $(TEST_STEPS)

# The docs site (mkdocs.yml): `make docs` builds it into build/site; docs-check builds it with
# --strict into a temporary directory, so a broken link or anchor, or a page left out of the
# nav, fails `make test`. The CLI reference is generated from the typer app on every build.
DOCS_SITE := build/site
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(DOCS_SITE)

docs-check: install
	@site=$$(mktemp -d) && trap 'rm -rf "$$site"' EXIT && \
		NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir "$$site"

# The comparison in containers, end to end (docs/docker.md): engine, base, image,
# docker-compose.yml and docker-compose.scale.yml with the compose-smoke scenario, checked,
# taken down.
compose-test: install
	$(BIN)/python -m devtools.compose_test

# `make test`'s step: the same where a Docker engine can run, else a clear "SKIPPED: why".
compose-test-if-engine: install
	$(BIN)/python -m devtools.compose_test --if-engine

# Each container target's capacity under a 0.25 vCPU quota (root: the kernel enforces it), then
# the chat comparison (the one load all five targets share), then the plan at 100,000 users.
# Capacity first, so the chat comparison's report (the main one) shows it beside its own
# figures: "At your scale" and the cost chart take capacity from the run beside it.
CONTAINER_TARGETS := short-polling,long-polling,sse,websocket
bench: install
	@if [ "$$(id -u)" = 0 ]; then \
		$(BIN)/tbench run --scenario capacity --targets $(CONTAINER_TARGETS) --no-report; \
	else echo "capacity skipped: a CPU quota needs root (sudo make bench)"; fi
	$(BIN)/tbench run --scenario chat --targets all
	@if [ "$$(id -u)" = 0 ]; then $(BIN)/tbench plan --users 100000; fi

# The soak (not in `make test`: 17 min a target): chat's load held for 15 min after a 2 min
# warm-up; exits non-zero, naming the target and its RSS after warm-up and at the end, when a
# server's RSS grew 5 % or more after the warm-up. `make soak SOAK_TARGETS=websocket` for one.
SOAK_TARGETS ?= all
soak: install
	$(BIN)/tbench run --scenario soak --targets $(SOAK_TARGETS)

# Both lock files from pyproject.toml, by uv from PyPI, for CPython >= 3.11 on any platform
# (markers say where a pin applies): requirements-dev.lock (`make install`), then the image's
# requirements.lock held to the same versions. Pins already there are kept; to move them all
# to the newest allowed: `make lock LOCK_FLAGS=--upgrade`.
LOCK_FLAGS ?=
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--annotation-style line --custom-compile-command "make lock" $(LOCK_FLAGS)
lock: install
	$(LOCK) --extra dev --output-file requirements-dev.lock
	$(LOCK) --constraints requirements-dev.lock --output-file requirements.lock

# The balancers' nginx.conf that docker-compose.scale.yml mounts, one per replicated target.
COMPOSE_SCALED := short-polling long-polling sse websocket
compose-nginx: install
	@for target in $(COMPOSE_SCALED); do \
		$(BIN)/python -m tbench.nginx_config --upstream $$target:8000 --listen 8080 \
			--runtime-dir /tmp > compose/nginx/$$target.conf || exit 1; \
	done

clean:
	rm -rf $(VENV) $(DYNALITE_DIR)/node_modules build *.egg-info .mypy_cache .pytest_cache .ruff_cache
