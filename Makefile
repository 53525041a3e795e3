# Quick start on a fresh Debian 12 machine, as root: `make run`, then `make test`.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test deps test-deps lint unit integration conformance bench clean emulation ui-assets

deps:
	@scripts/ensure-deps.sh

test-deps:
	@scripts/ensure-deps.sh --test

run: deps
	@scripts/run-demo.sh

lint: deps
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: test-deps lint
	$(PY) -m pytest -q tests

unit: deps
	$(PY) -m pytest -q tests/unit

emulation: deps
	@scripts/enable-emulation.sh

bench: deps
	$(PY) bench/run_latency.py

# The web UI's browser libraries, from npm, into src/dockyard/ui/static/vendor (committed).
ui-assets:
	@scripts/ui-assets.sh --force

clean:
	rm -rf $(VENV) build *.egg-info
