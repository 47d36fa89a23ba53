#!/usr/bin/env bash
# The PyTorch engine's Python side: a virtual environment in .venv/ with torch and the pinned libraries of
# python/requirements.txt. torch is asked for by exact version: on this project's machines `torch==2.13.0` is the
# CPU build that lies on the local disk (a plain `torch` would pull a multi-GB CUDA build). ULPT_TORCH_SPEC
# overrides it (e.g. "torch==2.13.0" from another index on a GPU machine). Re-running it is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${ULPT_SETUP_PYTHON:-python3}"
TORCH_SPEC="${ULPT_TORCH_SPEC:-torch==2.13.0}"
start=$(date +%s)
if [ ! -x .venv/bin/python ]; then
  echo "[setup-python] creating .venv with $($PY --version 2>&1)"
  "$PY" -m venv .venv
fi
echo "[setup-python] installing $TORCH_SPEC and python/requirements.txt into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check "$TORCH_SPEC" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
.venv/bin/python -m pip install -q --disable-pip-version-check -r python/requirements.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
.venv/bin/python -c "import torch, transformers, peft, safetensors; print('[setup-python] torch', torch.__version__, '· transformers', transformers.__version__, '· peft', peft.__version__)"
echo "[setup-python] done in $(( $(date +%s) - start )) s"
