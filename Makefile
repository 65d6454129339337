# One entry point for set-up, tests and the demo. Every target (re)creates .venv idempotently.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,asr,offline

.PHONY: venv test demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest

# The whole chain on the embedded demo corpus (raw/demo), offline: transcribe -> features -> tensors
# -> train (every seed) -> evaluate. A second run does nothing unless an input or a param changed.
demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/dvc repro
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc plots show --out dvc_plots > /dev/null
	@echo "metrics: $(CURDIR)/metrics.json   (dvc metrics show; dvc exp show)"
	@echo "plots:   $(CURDIR)/dvc_plots/index.html and $(CURDIR)/plots/*.png"

clean:
	rm -rf $(VENV)
