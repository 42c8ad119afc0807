# lifeledger: `make run` sets everything up and starts the service; `make test` sets up and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup run test contracts assets check-contracts lint bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

setup: $(STAMP) $(NODE_STAMP) contracts assets

contracts: $(STAMP) $(NODE_STAMP)
	$(BIN)/python scripts/build_contracts.py

assets: $(STAMP) $(NODE_STAMP)
	$(BIN)/python scripts/build_assets.py

check-contracts: $(STAMP) $(NODE_STAMP)
	$(BIN)/python scripts/build_contracts.py --check

# Debian packages the tests need: a PostgreSQL server (the tests start a throwaway cluster themselves) and Chromium
# (tests/web drive it headless through playwright; `playwright install` downloads a browser and is never run).
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing Debian's postgresql (server binaries for the store tests)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium (the browser the verification page's tests drive)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi
	@if ! command -v pdfinfo >/dev/null 2>&1; then \
		echo "installing Debian's poppler-utils (pdfinfo reads the verification page benchmark's PDFs)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq poppler-utils >/dev/null; \
	fi

run: setup
	$(BIN)/lifeledger serve --host $(HOST) --port $(PORT)

test: setup system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

# The conventions as gates: ruff, mypy --strict (ledger/ and api/), and the import-boundary test.
lint: $(STAMP)
	$(BIN)/ruff check ledger api tests scripts
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider tests/test_layers.py

bench: setup
	$(BIN)/python scripts/bench_journal.py --json bench-results/journal.json
	$(BIN)/python scripts/bench_anchoring.py --json bench-results/anchoring.json
	$(BIN)/python scripts/gas_report.py --json bench-results/gas.json
	$(BIN)/python scripts/bench_policies.py --json bench-results/policies.json
	$(BIN)/python scripts/bench_servicing.py --json bench-results/servicing.json
	$(BIN)/python scripts/bench_claims.py --json bench-results/claims.json
	$(BIN)/python scripts/bench_bundle.py --json bench-results/bundle.json

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
