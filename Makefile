# The dev loop. `make serve` and `make test` are the two commands a new machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= data
INDEX  ?= index
PIP    := $(BIN)/python -m pip

.PHONY: help install install-dev index reindex serve test test-fast lint format eval eval-assist bench clean

help:
	@echo "make serve   - set up, build the index from $(DATA)/ if it changed, serve on 127.0.0.1:8000"
	@echo "make test    - set up (dev tools, Chromium) and run the whole test suite"
	@echo "make index   - build the index if $(DATA)/ changed;  make reindex - always build a new version"
	@echo "make eval    - retrieval metrics on data/eval;  make bench - benchmarks (not part of the tests)"
	@echo "make eval-assist - intent/emotion accuracy (held-out utterances), no-good-answer precision/recall"
	@echo "make lint    - ruff and mypy"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

# torch first, pinned: that version is a local CPU build; a bare `torch` would pull CUDA wheels.
$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev,st]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.dev-installed

index: install
	$(BIN)/kbassist build --source $(DATA) --out $(INDEX) --if-changed

reindex: install
	$(BIN)/kbassist build --source $(DATA) --out $(INDEX)

serve: index
	$(BIN)/kbassist serve --index $(INDEX)

test: install-dev
	$(BIN)/python -m pytest

test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: install-dev
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix src tests scripts benchmarks
	$(BIN)/ruff format src tests scripts benchmarks

eval: index
	$(BIN)/kbassist eval --index $(INDEX) --queries $(DATA)/eval/questions.jsonl --queries $(DATA)/eval/holdout.jsonl --run-dir runs

eval-assist: index
	$(BIN)/kbassist eval-intent
	$(BIN)/kbassist eval-no-answer --index $(INDEX) -q $(DATA)/eval/questions.jsonl -q $(DATA)/eval/holdout.jsonl

bench: install-dev
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(INDEX) runs .pytest_cache .mypy_cache .ruff_cache
