# Two commands do everything on a fresh machine with python3 (3.11+) and make:
#   make synth   creates .venv (Python deps, Node.js from PyPI, the cdk8s CLI) and writes dist/
#   make test    runs the whole test suite (creating .venv first when needed)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov pins packaging versions that conflict with pytest 9, so it lives in its own venv.
CHECKOV_VENV := .venv-tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: synth test bench clean

$(STAMP): pyproject.toml package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(VENV)/bin/npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30
	touch $@

synth: $(STAMP)
	cdk8s synth --no-check-upgrade

test: $(STAMP) $(CHECKOV_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/synth_bench.py

clean:
	rm -rf $(VENV) .venv-tools node_modules build *.egg-info
