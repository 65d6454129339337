# One entry point for set-up, tests and the demo. Every target (re)creates .venv idempotently.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,asr,offline,cluster
# The CPU wheel of this release lies on disk here; pyproject's range admits it, so nothing else is fetched.
TORCH ?= 2.13.0

.PHONY: venv test test-fast demo clean browser envs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's dependency lists change.
$(STAMP): pyproject.toml requirements-nodeps.txt | $(BIN)/python
	$(BIN)/pip install --quiet "torch==$(TORCH)"
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP) browser envs
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest

# The fast tier, for the edit-test loop: every test but the slow ones (Whisper, Ray, torchrun, the
# optional environments, DVC runs, long training: tests/conftest.py names them). CI runs `make test`.
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

# The optional backends' own environments (py-feat: torch 2.14.1; whisperx: torch 2.8), so that
# their tests run py-feat's and whisperx's real code. About 8 GB and 5-7 minutes each when fresh,
# nothing when up to date; a build that fails is skipped by its tests, naming why.
# `make test OPTIONAL_ENVS=` leaves them out.
OPTIONAL_ENVS ?= face whisperx
envs:
	@for env in $(OPTIONAL_ENVS); do bash scripts/envs/$$env.sh; done

# Headless Chromium renders the predict report in a test. Best effort: where it cannot be
# installed (not root, no apt), that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; } || \
		echo "chromium not installed: the report's browser test will be skipped" >&2

# The whole chain on the embedded demo corpus (raw/demo), offline: transcribe -> features -> tensors
# -> train (every seed) -> evaluate. A second run does nothing unless an input or a param changed.
demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/dvc repro
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc plots show --out dvc_plots > /dev/null
	@echo "metrics: $(CURDIR)/metrics.json   (dvc metrics show; dvc exp show)"
	@echo "plots:   $(CURDIR)/dvc_plots/index.html and $(CURDIR)/plots/*.png"

clean:
	rm -rf $(VENV) .venv-face-test .venv-whisperx
