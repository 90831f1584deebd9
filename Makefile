# The dev loop. `make serve` and `make test` are the two commands a new machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= data
INDEX  ?= index
PIP    := $(BIN)/python -m pip

.PHONY: help install install-dev browsers index reindex serve test test-fast lint format eval eval-assist bench clean

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

# Debian's Chromium and a CJK font for the browser tests (a test framework's own browser download does
# not work offline). As root (CI) a failed install fails the build; elsewhere, without root or sudo, it
# warns and the browser tests skip themselves.
CHROMIUM ?= /usr/bin/chromium
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-microhei
browsers:
	@if [ -x $(CHROMIUM) ] && [ -f $(CJK_FONT) ]; then exit 0; fi; \
	apt_install="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(BROWSER_PACKAGES)"; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then sh -c "$$apt_install"; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
		sudo sh -c "$$apt_install" || echo "warning: could not install $(BROWSER_PACKAGES); browser tests will be skipped"; \
	else echo "warning: $(CHROMIUM) missing and no apt-get/sudo to install $(BROWSER_PACKAGES); browser tests will be skipped"; fi

test: install-dev browsers
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

# e.g. make bench BENCH_ARGS="--size 10000 --skip-http"; see benchmarks/run_all.py --help
bench: install-dev
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(INDEX) runs .pytest_cache .mypy_cache .ruff_cache
