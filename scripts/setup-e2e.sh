#!/usr/bin/env bash
# Prepares a machine for the end-to-end tests (test/e2e): a real VS Code (code-server, from npm) driven by
# Debian's Chromium through playwright-core.
#
#   bash scripts/setup-e2e.sh          (root, non-interactive; safe to run again: finished steps are skipped)
#
# What it does, and why:
#   1. apt: chromium (the browser), ripgrep (see 2), libkrb5-dev + pkg-config (code-server builds the `kerberos`
#      native module), and a C++ toolchain + python3 for node-gyp when missing. `apt-get update` runs only when
#      the package lists are missing or too old to install from.
#   2. Seeds @vscode/ripgrep's download cache with Debian's rg: its postinstall downloads a binary from GitHub,
#      which is not reachable here. With the tarball in its cache it "downloads" from there.
#   3. npm-installs code-server@$CODE_SERVER_VERSION into .e2e/code-server/ (not the project's node_modules, so
#      `npm ci` stays fast and code-server's install scripts never run for people who do not run the e2e tests).
#      Native modules are compiled against the system Node's headers (/usr/include/node), not downloaded ones.
# Environment: CODE_SERVER_VERSION (default 4.100.3), E2E_DIR (default <repo>/.e2e).
set -euo pipefail

CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.100.3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
E2E_DIR="${E2E_DIR:-$ROOT/.e2e}"
CS_DIR="$E2E_DIR/code-server"
MARKER="$CS_DIR/.installed-$CODE_SERVER_VERSION"
export DEBIAN_FRONTEND=noninteractive

say() { printf '[setup-e2e] %s\n' "$*"; }
t0=$SECONDS
phase_start=$SECONDS
phase_end() { say "  ($1 took $((SECONDS - phase_start)) s)"; phase_start=$SECONDS; }

# ---- 1. Debian packages -------------------------------------------------------------------------------------
packages=(chromium ripgrep libkrb5-dev pkg-config)
command -v make >/dev/null || packages+=(make)
command -v g++ >/dev/null || packages+=(g++)
command -v python3 >/dev/null || packages+=(python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "apt: ${packages[*]} already installed"
else
  if [ "$(id -u)" -ne 0 ]; then
    say "apt: need ${missing[*]} but not running as root; install them, or run this script as root" >&2
    exit 1
  fi
  apt_install() { apt-get install -y --no-install-recommends "${missing[@]}"; }
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    say "apt: no package lists yet: apt-get update"
    apt-get update
  fi
  say "apt: installing ${missing[*]}"
  if ! apt_install; then
    say "apt: install failed (stale package lists?): apt-get update and retry"
    apt-get update
    apt_install
  fi
  phase_end "apt"
fi
command -v chromium >/dev/null || { say "chromium is not on PATH after installing it" >&2; exit 1; }
say "chromium: $(chromium --version 2>/dev/null || echo '?') at $(command -v chromium)"

# ---- 3 (check first). code-server already installed? ----------------------------------------------------------
cs_bin="$CS_DIR/node_modules/.bin/code-server"
if [ -f "$MARKER" ] && [ -x "$cs_bin" ]; then
  say "code-server $CODE_SERVER_VERSION already installed in $CS_DIR"
  say "done in $((SECONDS - t0)) s"
  exit 0
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != "20" ]; then
  say "warning: code-server $CODE_SERVER_VERSION wants Node 20 (its extension host runs on the system Node); this is Node $(node --version)" >&2
fi

# ---- 2. ripgrep download cache ----------------------------------------------------------------------------------
# @vscode/ripgrep's postinstall looks for <tmpdir>/vscode-ripgrep-cache-<its version>/ripgrep-<rg tag>-<target>.tar.gz
# before downloading. code-server 4.100.3 (VS Code 1.100) uses @vscode/ripgrep 1.15.11 → ripgrep v13.0.0-10.
# Seed a few nearby package versions too: it costs nothing and survives a minor bump.
rg_bin="$(command -v rg)"
tmp="$(node -p 'require("os").tmpdir()')"
for v in 1.15.9 1.15.10 1.15.11 1.15.12 1.15.13 1.15.14; do
  c="$tmp/vscode-ripgrep-cache-$v"
  mkdir -p "$c"
  for tag in v13.0.0-10 v13.0.0-11 v13.0.0-12 v13.0.0-13; do
    f="$c/ripgrep-$tag-x86_64-unknown-linux-musl.tar.gz"
    [ -s "$f" ] || tar czf "$f" -C "$(dirname "$rg_bin")" rg
  done
done
say "ripgrep: seeded $tmp/vscode-ripgrep-cache-* with $rg_bin ($("$rg_bin" --version | head -1))"

# ---- 3. code-server -----------------------------------------------------------------------------------------------
# No marker: start clean (a half-finished install is "up to date" for npm, which would not rerun postinstall).
rm -rf "$CS_DIR"
mkdir -p "$CS_DIR"
printf '{ "name": "ulpt-e2e-code-server", "private": true }\n' > "$CS_DIR/package.json"
# Compile native modules against the installed Node's headers instead of downloading them from nodejs.org.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_version.h ]; then export npm_config_nodedir=/usr; fi
# code-server's postinstall builds its native modules (npm install in lib/vscode). npm versions that block
# dependency install scripts by default (allow-scripts) must let them run here.
if npm config ls -l 2>/dev/null | grep -q '^dangerously-allow-all-scripts'; then export npm_config_dangerously_allow_all_scripts=true; fi
say "npm: installing code-server@$CODE_SERVER_VERSION into $CS_DIR (about a minute or two)"
phase_start=$SECONDS
npm_config_yes=true npm_config_unsafe_perm=true npm_config_fund=false npm_config_audit=false \
  npm install --prefix "$CS_DIR" --no-save --no-package-lock --loglevel=error "code-server@$CODE_SERVER_VERSION"
phase_end "npm install code-server"

# code-server's postinstall must have built the native modules and put a working rg in place; say which is missing.
vs="$CS_DIR/node_modules/code-server/lib/vscode/node_modules"
for f in "$vs/@vscode/spdlog/build/Release/spdlog.node" "$vs/node-pty/build/Release/pty.node" \
         "$vs/kerberos/build/Release/kerberos.node" "$vs/native-watchdog/build/Release/watchdog.node"; do
  [ -f "$f" ] || { say "code-server's postinstall did not build ${f#"$CS_DIR/"} (see the npm output above)" >&2; exit 1; }
done
"$vs/@vscode/ripgrep/bin/rg" --version >/dev/null 2>&1 || { say "code-server's ripgrep ($vs/@vscode/ripgrep/bin/rg) is missing or broken" >&2; exit 1; }
# (Not `code-server --version`: on first use it writes ~/.config/code-server/config.yaml and logs that to stdout.)
version="$(node -p 'require(process.argv[1]).version' "$CS_DIR/node_modules/code-server/package.json")"
[ "$version" = "$CODE_SERVER_VERSION" ] || { say "installed code-server is $version, expected $CODE_SERVER_VERSION" >&2; exit 1; }
[ -x "$cs_bin" ] || { say "$cs_bin is missing" >&2; exit 1; }
touch "$MARKER"
say "code-server: $version at $cs_bin"
say "done in $((SECONDS - t0)) s"
