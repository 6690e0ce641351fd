# citywatch — two commands on a fresh Debian bookworm machine:
#   make up     start the whole platform locally (Ctrl-C to stop)
#   make test   run the full test suite
# Both install what they need first, idempotently (a second run starts in seconds).

UV_VERSION := 0.13.8
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
VENV       := .venv
export UV_PYTHON := python3
export UV_PYTHON_DOWNLOADS := never

.PHONY: up test test-fast install system python lint bench-ingest rehearse clean

up: install
	$(VENV)/bin/citywatch up

# CITYWATCH_TIMESCALEDB=tsl make test: the same suite on the Timescale License edition, built once from
# ../shared/upstream (scripts/install-timescaledb-tsl.sh); skipped, saying so, where that source is absent.
test: install
	@if [ "$${CITYWATCH_TIMESCALEDB:-apache}" = tsl ]; then \
	  bindir=$$(bash scripts/install-timescaledb-tsl.sh); rc=$$?; \
	  if [ $$rc -eq 3 ]; then echo "make test: Timescale License lane skipped (no ../shared/upstream)"; exit 0; fi; \
	  [ $$rc -eq 0 ] || exit $$rc; \
	  CITYWATCH_PG_BINDIR=$$bindir $(VENV)/bin/pytest $(PYTEST_ARGS); \
	else $(VENV)/bin/pytest $(PYTEST_ARGS); fi

# The unit lane: pure logic, no database or broker (tests/unit), in well under a minute.
test-fast: python
	$(VENV)/bin/pytest -q tests/unit $(PYTEST_ARGS)

install: system python

# Debian packages (PostgreSQL 15 + server headers, Mosquitto, build tools) and
# TimescaleDB (Apache-2 edition) built from Debian's trixie source package.
system:
	@bash scripts/install-system.sh

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The locked Python environment in .venv (uv.lock pins every package).
python: $(UV)
	@$(UV) sync --frozen --quiet

# The production path in real containers: docker-compose.yml, unmodified, on podman with stand-ins for the
# third-party images built from ../shared/upstream (deploy/rehearsal/README.md); skipped, saying so, without it.
rehearse: install
	@if [ ! -f ../shared/upstream/timescaledb-2.19.3.tar.gz ]; then \
	  echo "make rehearse: skipped (no ../shared/upstream: the stand-in images are built from its sources)"; exit 0; fi; \
	bash scripts/install-containers.sh && $(VENV)/bin/python deploy/rehearsal/rehearse.py

# ruff, mypy, and the import contract (layers that only point down: docs/architecture.md)
lint: python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench-ingest: install
	$(VENV)/bin/citywatch bench ingest

clean:
	rm -rf $(VENV) $(TOOLS) .citywatch
