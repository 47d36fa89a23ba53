#!/usr/bin/env bash
# One command from a fresh clone to a machine that builds, trains and runs every test:
# the npm dependencies, then what the end-to-end tests need (Debian's Chromium, code-server in .e2e/).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci
bash scripts/setup-e2e.sh
