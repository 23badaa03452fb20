#!/usr/bin/env bash
# Create (or update) the two environments autorerank needs. Idempotent: when
# nothing changed since the last run it returns in well under a second.
#
#   .venv/            autorerank itself (sentence-transformers 6, mteb 2, streamlit)
#   .venv-autotrain/  autotrain-advanced 0.8.36 and its pinned old stack
#   .venv-infinity/   with --infinity: infinity-emb 0.0.78 (serving engine; pins
#                     sentence-transformers < 4, numpy < 2)
#
# Usage: scripts/setup.sh [--browser] [--infinity]
#   --browser:  also install Debian chromium for the headless-browser tests
#   --infinity: also create .venv-infinity (the Infinity tests and `bench serve`)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"
PIP_FLAGS=(--quiet --disable-pip-version-check)

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# --- main environment ---------------------------------------------------------
main_stamp=$(stamp_of pyproject.toml)
if [[ ! -f .venv/.autorerank-stamp || "$(cat .venv/.autorerank-stamp)" != "$main_stamp" ]]; then
    echo "setup: creating/updating .venv (autorerank, sentence-transformers, mteb, streamlit)"
    [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
    .venv/bin/pip install "${PIP_FLAGS[@]}" "$TORCH_PIN"
    .venv/bin/pip install "${PIP_FLAGS[@]}" -e ".[test,bench,onnx,llamaindex]"
    echo "$main_stamp" > .venv/.autorerank-stamp
fi

# --- AutoTrain environment ----------------------------------------------------
at_stamp=$(stamp_of requirements/autotrain.txt requirements/autotrain-constraints.txt)
if [[ ! -f .venv-autotrain/.autorerank-stamp || "$(cat .venv-autotrain/.autorerank-stamp)" != "$at_stamp" ]]; then
    echo "setup: creating/updating .venv-autotrain (autotrain-advanced 0.8.36, CPU torch)"
    [[ -x .venv-autotrain/bin/python ]] || "$PYTHON" -m venv .venv-autotrain
    .venv-autotrain/bin/pip install "${PIP_FLAGS[@]}" "$TORCH_PIN"
    .venv-autotrain/bin/pip install "${PIP_FLAGS[@]}" -c requirements/autotrain-constraints.txt -r requirements/autotrain.txt
    # The torchvision/timm wheels AutoTrain pulls are CUDA builds that break every
    # import next to the CPU torch; the sentence-transformers tasks need neither.
    .venv-autotrain/bin/pip uninstall "${PIP_FLAGS[@]}" -y torchvision timm || true
    .venv-autotrain/bin/python -c "import autotrain, sentence_transformers" \
        || { echo "setup: AutoTrain environment does not import" >&2; exit 1; }
    echo "$at_stamp" > .venv-autotrain/.autorerank-stamp
fi

# --- headless browser for the UI tests -------------------------------------------
if [[ " $* " == *" --browser "* ]] && ! command -v chromium >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Debian chromium (headless browser tests)"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup: chromium not found and cannot install it (need root + apt); browser tests will be skipped" >&2
    fi
fi

# --- Infinity's environment (the same code and stamp as its first use) ------------
if [[ " $* " == *" --infinity "* ]]; then
    .venv/bin/python -c "from wrapper.serve import infinity; infinity.ensure_env(lambda m: print('setup: ' + m))"
fi
