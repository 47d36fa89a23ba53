#!/usr/bin/env bash
# One command from a fresh clone to a machine that builds, trains and runs every test:
# the npm dependencies, the PyTorch engine's Python side (.venv/), then what the end-to-end tests need
# (Debian's Chromium, code-server in .e2e/).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci
bash scripts/setup-python.sh
bash scripts/setup-e2e.sh
