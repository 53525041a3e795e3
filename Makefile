# Quick start on a fresh Debian 12 machine, as root: `make run`, then `make test`.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test deps test-deps lint unit integration conformance bench clean emulation ui-assets crun-host

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

# Opt-in host change on a hybrid cgroup host: the controllers on the cgroup2 mount (hugetlb here) bound
# to cgroup v1 hierarchies under /sys/fs/cgroup, so that crun runs (and dockyardd defaults to it).
crun-host: deps
	$(PY) -c "from dockyard.backends.cgroups import bind_v1_controllers as b; \
	from dockyard.core.system import hybrid_v2_controllers as h; print('bound:', b(h()) or 'nothing to bind')"

bench: deps
	$(PY) bench/run_latency.py

# The web UI's browser libraries, from npm, into src/dockyard/ui/static/vendor (committed).
ui-assets:
	@scripts/ui-assets.sh --force

clean:
	rm -rf $(VENV) build *.egg-info
