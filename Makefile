# Two entry points, each self-contained on a fresh machine with Python 3.11:
#   make demo   create .venv, install the package, compress the embedded sample image
#   make test   create .venv, install the package with its test group, run the tests
#   make bench  install the bench group (+ the pngquant Debian package when possible), run the benchmark
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

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

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

$(VENV)/.installed-bench: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e . --group bench
	touch $@

# The pngquant command is a peer too; without apt-get (or root) the benchmark skips it with a notice.
bench: $(VENV)/.installed-bench
	@command -v pngquant >/dev/null 2>&1 || apt-get install -y -q pngquant >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q pngquant >/dev/null 2>&1) \
		|| echo "notice: could not install the pngquant Debian package; its rows will be skipped"
	$(BIN)/python benchmarks/bench_quantizers.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
