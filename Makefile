# Floor server — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

.PHONY: run serve-prod test lint bench venv dev-deps system-deps clean lock

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Dependencies are declared in requirements.txt (runtime) and requirements-dev.txt (tests,
# lint, benchmarks) and installed from the pinned lock files made from them (`make lock`).
$(STAMP): requirements.lock | $(PY)
	$(PIP) install -q -r requirements.lock
	touch $@

$(DEV_STAMP): requirements.lock requirements-dev.lock $(STAMP)
	$(PIP) install -q -r requirements-dev.lock
	touch $@

venv: $(STAMP)

## make run: install, migrate, load the demo warehouse when empty (--demo), serve on http://127.0.0.1:5000
run: $(STAMP)
	$(VENV)/bin/flask --app app serve --demo

## make serve-prod WORKERS=2: N gunicorn -k gevent processes on ports 5001…, behind a reverse
## proxy (docs/deploy.md); several need FLOOR_DATABASE_URL (PostgreSQL) and FLOOR_REDIS_URL
WORKERS ?= 1
serve-prod: $(STAMP)
	$(PY) -m web.serve_prod --workers $(WORKERS)

## make test: install what the tests need (chromium, socat) and run the whole suite, on
## TEST_WORKERS processes (pytest-xdist; TEST_WORKERS=0 runs it in this one process)
test: $(DEV_STAMP) system-deps
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

## system packages the tests drive for real: headless Chromium, socat (pty pairs), poppler
## (PDF pages to pictures), a private CUPS (cups:// printers) and the DejaVu fonts
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v socat >/dev/null 2>&1 || missing="$$missing socat"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v lpstat >/dev/null 2>&1 || missing="$$missing cups cups-client cups-bsd"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing fonts-dejavu-core >/dev/null; \
	fi

## make lint: ruff (rules and format), and the import contracts that keep the layers one-way (pyproject.toml)
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench: $(DEV_STAMP)
	$(PY) -m bench $(BENCH)

## make lock: re-pin requirements.lock / requirements-dev.lock after editing requirements*.txt
lock: $(DEV_STAMP)
	$(VENV)/bin/pip-compile -q --no-emit-index-url --no-emit-find-links --strip-extras --no-header \
	  -o requirements.lock requirements.txt
	$(VENV)/bin/pip-compile -q --no-emit-index-url --no-emit-find-links --strip-extras --no-header \
	  -c requirements.lock -o requirements-dev.lock requirements-dev.txt

clean:
	rm -rf $(VENV) instance .pytest_cache
