# genlab: two entry points (see README). TORCH picks the PyTorch build: the default is the CPU
# wheel for this kind of machine; GPU users run e.g. `make demo TORCH=torch`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install dev bench

$(BIN)/genlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/genlab
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# the benchmarks' peers and tools (transformers, markovify, psutil) on top of the dev install
$(VENV)/.bench: $(VENV)/.dev
	$(BIN)/pip install -q -e ".[dev,bench]"
	touch $@

install: $(BIN)/genlab

dev: $(VENV)/.dev

demo: $(BIN)/genlab
	$(BIN)/genlab demo

test: $(VENV)/.dev
	$(BIN)/ruff check genlab tests benchmarks
	$(BIN)/python -m pytest -q

# install what the benchmarks need, then list them; run one with `.venv/bin/python benchmarks/NAME.py --help`
bench: $(VENV)/.bench
	@echo "benchmarks installed; each prints its figures and a JSON line last:"
	@ls benchmarks/*.py | sed 's/^/  .venv\/bin\/python /'

lint: $(VENV)/.dev
	$(BIN)/ruff check genlab tests benchmarks
