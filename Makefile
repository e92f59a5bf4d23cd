# Two commands: `make run` boots AOS embedded with the sample agents; `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup bench clean lint

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# checkov (infra/ scan) gets its own venv: its pinned dependencies clash with ours.
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed

$(INFRA_STAMP): tests/infra/requirements-checkov.txt
	$(PY) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install -q -r tests/infra/requirements-checkov.txt
	touch $(INFRA_STAMP)

# npm tools for the interop tests (MCP Inspector), pinned by package-lock.json.
NPM_STAMP := node_modules/.installed

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/aos up --samples

test: $(STAMP) $(INFRA_STAMP) $(NPM_STAMP)
	$(BIN)/ruff check aos mcp_servers examples tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/wakes.py

lint: $(STAMP)
	$(BIN)/ruff check aos mcp_servers examples tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(INFRA_VENV) node_modules .aos .pytest_cache .mypy_cache .hypothesis
