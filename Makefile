# Orbitask: `make run` serves the product, `make test` runs every test CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo bench clean lint servers

# Debian packages the test suite starts for real (MariaDB, PostgreSQL, Redis, HAProxy) or runs (Node, for CDK
# synthesis); installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# [aws]: CI synthesises the CDK app under deploy/aws and lints its templates (tests/deploy).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,aws]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/orbitask serve

demo: $(STAMP)
	$(BIN)/orbitask demo

servers:
	@{ command -v mariadbd >/dev/null 2>&1 || test -x /usr/sbin/mariadbd; } \
	  && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  && { command -v redis-server >/dev/null 2>&1 || test -x /usr/bin/redis-server; } \
	  && { command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy; } || { \
	  echo "Installing mariadb-server, postgresql, redis-server and haproxy from Debian (the tests start them on 127.0.0.1)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mariadb-server postgresql redis-server haproxy; }
	@command -v node >/dev/null 2>&1 || { \
	  echo "Installing nodejs from Debian (AWS CDK synthesis in tests/deploy runs on it)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs; }

test: $(STAMP) servers
	$(BIN)/ruff check src tests bench deploy
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/api.py
	$(BIN)/python bench/attachments.py

clean:
	rm -rf $(VENV) .pytest_cache
