# genlab: two entry points (see README). TORCH picks the PyTorch build: the default is the CPU
# wheel for this kind of machine; GPU users run e.g. `make demo TORCH=torch`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install dev bench espeak-ng llama-cpp

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

# espeak-ng (a Debian package, not a Python one) synthesises builtin:spoken-digits for the audio generators.
# Installed here when missing and this shell can (root, or password-less sudo, with apt-get); otherwise say
# so: the tests that need it are then skipped with that reason, and `genlab audio` names the package.
espeak-ng:
	@if command -v espeak-ng >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing espeak-ng (Debian package) for builtin:spoken-digits"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; } \
	    || echo "warning: apt-get could not install espeak-ng; the audio tests that need it will be skipped"; \
	elif command -v apt-get >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then \
	  echo "installing espeak-ng (Debian package) with sudo for builtin:spoken-digits"; \
	  { sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; } \
	    || echo "warning: apt-get could not install espeak-ng; the audio tests that need it will be skipped"; \
	else \
	  echo "note: espeak-ng is not installed and cannot be installed here (needs apt-get and root or sudo):"; \
	  echo "      install it with your package manager (Debian/Ubuntu: sudo apt-get install espeak-ng);"; \
	  echo "      until then the audio tests that need it are skipped"; \
	fi

test: $(VENV)/.dev espeak-ng
	$(BIN)/ruff check genlab tests benchmarks
	$(BIN)/python -m pytest -q

# install what the benchmarks need, then list them; run one with `.venv/bin/python benchmarks/NAME.py --help`
bench: $(VENV)/.bench
	@echo "benchmarks installed; each prints its figures and a JSON line last:"
	@ls benchmarks/*.py | sed 's/^/  .venv\/bin\/python /'

lint: $(VENV)/.dev
	$(BIN)/ruff check genlab tests benchmarks

# llama.cpp itself, to check GGUF exports against it: llama-cpp-python has no wheel here, so pip builds it
# from its source release (only the library: no tools, examples or server; ~5 min on 2 cores, needs cmake
# and a C++ compiler), then the GGUF parity test that `make test` skips without it runs
LLAMA_CPP ?= llama-cpp-python==0.3.36
llama-cpp: $(VENV)/.dev
	CMAKE_ARGS="-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF" \
	  CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install -q --no-binary llama-cpp-python "$(LLAMA_CPP)"
	$(BIN)/python -m pytest -q -rs tests/export/test_gguf_export.py
