# The two commands: `make run` (set up and serve the embedded default) and `make test`.
# Both install what they need on a fresh Debian 12 machine, idempotently.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint typecheck layers unit setup system-packages clean

run: $(STAMP)
	$(BIN)/portico serve

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	@$(MAKE) --no-print-directory system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Debian packages the venv and the data plane need (haproxy, keepalived, iproute2 and
# arping for the amphora drivers); installed only when root and only if something is missing.
DEBIAN_PACKAGES := python3-venv python3-pip haproxy keepalived iproute2 iputils-arping
system-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "not root: please install $$missing"; fi

lint: $(STAMP)
	$(BIN)/ruff check portico tests bench
	$(BIN)/ruff format --check portico tests bench

typecheck: $(STAMP)
	$(BIN)/mypy portico

layers: $(STAMP)
	$(BIN)/lint-imports

test: lint typecheck layers
	$(BIN)/pytest -q -n 2 --dist loadgroup

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
