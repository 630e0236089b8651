# Two entry points, each self-contained on a fresh machine with Python 3.11:
#   make demo   create .venv, install the package, compress the embedded sample image
#   make test   create .venv, install the package with its test group, run the tests
#   make lint   ruff (lint and format check) and mypy on the package, tests, benchmarks and scripts
#   make smoke  in the demo's runtime-only .venv: every kernel and output path, outputs checked (scripts/smoke.py)
#   make check-install  build a wheel and an sdist, install the wheel into a new venv, run it from outside the repo
#   make notebook  re-execute docs/tutorial.ipynb and store it with its outputs
#   make browser  Debian's chromium for the web page's browser test (tests/test_web_browser.py), when missing
#   make bench  install the bench group (+ the pngquant Debian package when possible), run the benchmark
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint browser smoke dist check-install notebook bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[plot]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e . --group test
	touch $@

demo: $(VENV)/.installed
	$(BIN)/kmeans-compress demo --force

test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

# The browser test drives Debian's chromium through the playwright package (never playwright's own
# browser downloads); without apt-get (or root) that test skips with a notice.
browser:
	@test -x /usr/bin/chromium || apt-get install -y -q chromium >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) \
		|| echo "notice: could not install the chromium Debian package; the browser test will be skipped"

# Runs in the environment `make demo` builds (no test group): what a user's install has.
smoke: $(VENV)/.installed
	$(BIN)/python scripts/smoke.py

$(VENV)/.installed-release: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e . --group release
	touch $@

dist: $(VENV)/.installed-release
	rm -rf dist
	$(BIN)/python -m build --outdir dist . >build.log 2>&1 || { tail -30 build.log; exit 1; }
	rm -f build.log

check-install: dist
	bash scripts/check_install.sh $(PYTHON) dist

$(VENV)/.installed-bench: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e . --group bench
	touch $@

# The pngquant command is a peer too; without apt-get (or root) the benchmark skips it with a notice.
bench: $(VENV)/.installed-bench
	@command -v pngquant >/dev/null 2>&1 || apt-get install -y -q pngquant >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q pngquant >/dev/null 2>&1) \
		|| echo "notice: could not install the pngquant Debian package; its rows will be skipped"
	$(BIN)/python benchmarks/bench_quantizers.py $(BENCH_ARGS)

# Re-execute docs/tutorial.ipynb and store it with its outputs (scripts/run_notebook.py).
notebook: $(VENV)/.installed-test
	$(BIN)/python scripts/run_notebook.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
