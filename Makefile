# Orbitask: `make run` serves the product, `make test` runs every test CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo bench bench-capacity clean lint servers browser web api-types

# The web app (web/): dependencies from package-lock.json, a bundle rebuilt when any source is newer.
WEB_DEPS := web/node_modules/.package-lock.json
WEB_BUNDLE := web/dist/.built
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package.json \
  web/package-lock.json web/vite.config.ts web/tsconfig.json

# Debian packages the test suite starts for real (MariaDB, PostgreSQL, Redis, HAProxy) or runs (Node, for CDK
# synthesis); installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# [aws]: CI synthesises the CDK app under deploy/aws and lints its templates (tests/deploy).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,aws]'
	touch $(STAMP)

$(WEB_DEPS): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $(WEB_DEPS)

$(WEB_BUNDLE): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build
	touch $(WEB_BUNDLE)

web: $(WEB_BUNDLE)

# Regenerate the client's API types after changing the API (tests/web/test_api_types.py checks them).
api-types: $(STAMP) $(WEB_DEPS)
	$(BIN)/python scripts/openapi.py build/openapi.json
	cd web && npm run gen:api

run: $(STAMP) $(WEB_BUNDLE)
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

# Debian's Chromium for the browser tests (tests/e2e/test_web.py) and bench/web_board.py; never a downloaded one.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing chromium from Debian (the browser tests drive it headless)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

test: $(STAMP) servers browser
	$(BIN)/ruff check src tests bench scripts deploy
	cd web && npm ci --no-audit --no-fund && npm test -- --run
	touch $(WEB_DEPS)
	$(MAKE) web
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/api.py
	$(BIN)/python bench/attachments.py

# Stepped virtual users on SQLite, then MariaDB + Redis, until p99 passes 50 ms (docs/benchmarks.md, "Capacity").
bench-capacity: $(STAMP) servers
	$(BIN)/python bench/capacity.py

clean:
	rm -rf $(VENV) .pytest_cache web/node_modules web/dist build

# A million cards on 200 boards: seed, reindex, then query latency per backend (docs/benchmarks.md, "Search").
.PHONY: bench-search
bench-search: $(STAMP) servers
	$(BIN)/python bench/search.py
