#!/usr/bin/env bash
# Renders media/icon.svg to media/icon.png (256×256, the Marketplace icon) with headless Chromium (Debian's
# `chromium`, installed by scripts/setup-e2e.sh). Run it after changing the SVG and commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium="${ULPT_E2E_CHROMIUM:-$(command -v chromium || command -v chromium-browser)}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/icon.html" <<HTML
<!DOCTYPE html><html><head><style>html,body{margin:0;background:transparent}img{display:block}</style></head>
<body><img src="file://$PWD/media/icon.svg" width="256" height="256"></body></html>
HTML
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --default-background-color=00000000 \
  --window-size=256,256 --screenshot="$tmp/icon.png" "file://$tmp/icon.html" >/dev/null 2>&1
cp "$tmp/icon.png" media/icon.png
echo "wrote media/icon.png"
