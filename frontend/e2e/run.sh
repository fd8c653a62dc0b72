#!/usr/bin/env bash
# Run the SPA's browser end-to-end test (spa.test.mjs): installs Debian's chromium and chromium-driver
# and playwright-core from npm when missing (never a downloaded browser), builds frontend/dist if absent,
# then drives the given server binary (default: the debug build) in headless Chromium.
# Screenshots and figures.json land in <repo>/target/e2e/.
. "$(dirname "$0")/../../scripts/lib.sh"
BIN=${1:-$CARGO_TARGET_DIR/debug/scaleinfra}
[ -x "$BIN" ] || { echo "no server binary at $BIN (build it first)" >&2; exit 1; }
apt_install chromium chromium-driver
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
cd "$ROOT/frontend/e2e"
want=$(sed -n 's/.*"playwright-core": "\(.*\)".*/\1/p' package.json)
have=$(node -p "require('./node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  log "npm ci (playwright-core $want; no browser download)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
[ -f "$ROOT/frontend/dist/index.html" ] || "$ROOT/infra/build-frontend.sh"
SI_E2E_BIN="$BIN" node --test --test-reporter=spec spa.test.mjs
