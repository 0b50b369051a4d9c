# genlab: two entry points (see README). TORCH picks the PyTorch build: the default is the CPU
# wheel for this kind of machine; GPU users run e.g. `make demo TORCH=torch`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install dev

$(BIN)/genlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/genlab
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/genlab

dev: $(VENV)/.dev

demo: $(BIN)/genlab
	$(BIN)/genlab demo

test: $(VENV)/.dev
	$(BIN)/ruff check genlab tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check genlab tests benchmarks
