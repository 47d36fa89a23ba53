#!/usr/bin/env bash
# Copies the screenshots the README for users (media/README.md) shows from the last end-to-end run
# (`npm run test:e2e`, test-results/e2e/) into media/screenshots/. Look at them, then commit.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p media/screenshots
cp test-results/e2e/wizard/wizard-trained-panel.png media/screenshots/training-panel.png
cp test-results/e2e/wizard/wizard-template-widget.png media/screenshots/wizard-template.png
ls -l media/screenshots
