#!/usr/bin/env bash
# Builds .venv-face-test, py-feat's own environment (py-feat 2.1.5 needs torch 2.14.1 + torchvision 0.29.1,
# the core .venv has torch 2.13.0), for tests/test_env_face.py. Run from anywhere; idempotent.
#
# - Nothing to do when .venv-face-test/.ready is newer than pyproject.toml and the env scripts.
# - Debian's ffmpeg libraries (torchcodec, which py-feat imports, loads them) are installed with
#   apt-get only when missing and only as root; best effort.
# - py-feat's weights live only on the Hugging Face hub: random weights of the same architectures
#   are generated into the hub cache py-feat reads (scripts/envs/pyfeat_random_weights.py), so its
#   real loading and inference code runs offline. They are not a model: .venv-face-test is for tests
#   only (docs/environments.md: a py-feat environment of your own gets the real weights).
#   (Online, the hub's `main` revision differs from theirs and py-feat fetches the real weights;
#   offline, it uses these.)
# - scripts/envs/common.sh: the build's skeleton, the .ready / .failed protocol.
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 0
VENV=.venv-face-test
WHAT=py-feat
INPUTS=(pyproject.toml requirements-nodeps.txt scripts/envs/common.sh scripts/envs/face.sh scripts/envs/pyfeat_random_weights.py)
TORCH=2.14.1
TORCHVISION=0.29.1
EXTRAS=${FACE_EXTRAS:-face,asr,offline,dev}
source scripts/envs/common.sh

begin
step "pip install torch==$TORCH torchvision==$TORCHVISION" \
    "$VENV/bin/python" -m pip install --quiet "torch==$TORCH" "torchvision==$TORCHVISION"
# The extras beyond `face` are for running other parts of the pipeline there too; if they cannot
# be installed beside py-feat, `face` alone is what the test needs.
if ! "$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]" >> "$LOG" 2>&1; then
    echo "pip install -e .[$EXTRAS] failed: trying .[face] alone" >> "$LOG"
    step "pip install -e .[face]" "$VENV/bin/python" -m pip install --quiet -e ".[face]"
fi

step "pip install --no-deps -r requirements-nodeps.txt" "$VENV/bin/python" -m pip install --quiet --no-deps -r requirements-nodeps.txt
# torchcodec (imported by py-feat) dlopens FFmpeg's shared libraries: Debian's, installed if missing.
if ! ldconfig -p 2>/dev/null | grep -q 'libavformat\.so\.[0-9]'; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== apt-get install ffmpeg" >> "$LOG"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg; } >> "$LOG" 2>&1 \
            || echo "apt-get could not install ffmpeg's libraries (best effort)" >> "$LOG"
    else
        echo "FFmpeg's shared libraries are missing and this is not root: not installed" >> "$LOG"
    fi
fi
step "importing py-feat" env HF_HUB_OFFLINE=1 "$VENV/bin/python" -c "import feat"

step "generating py-feat's random test weights" \
    env HF_HUB_OFFLINE=1 "$VENV/bin/python" scripts/envs/pyfeat_random_weights.py
step "loading py-feat's Detectorv2 offline" env HF_HUB_OFFLINE=1 "$VENV/bin/python" -c \
    "import feat, pipeline.features.face; feat.Detectorv2(device='cpu', identity_model=None)"

finish
