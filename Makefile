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

demo: $(STAMP)
	@echo "make demo: the DVC chain on raw/demo lands with the DVC issue; nothing to run yet." >&2
	@exit 1

clean:
	rm -rf $(VENV)
