# Everything a fresh machine needs: `make run` (the seed example) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch for the cross-checks (an unpinned torch pulls a multi-GB CUDA build).
TORCH  := torch==2.13.0

.PHONY: run test lint bench clean

$(BIN)/backprop: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/backprop
	$(BIN)/pip install --quiet -e '.[dev,plot]' $(TORCH)
	touch $@

run: $(BIN)/backprop
	$(BIN)/backprop step

test: $(VENV)/.dev
	$(BIN)/ruff check backprop_cli tests benchmarks
	$(BIN)/mypy backprop_cli
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/step.py
	$(BIN)/python benchmarks/train.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
