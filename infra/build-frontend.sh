#!/usr/bin/env bash
# Build the Yew SPA (frontend/) into frontend/dist/ with content-hashed file names.
#
# Uses rustup's wasm32-unknown-unknown target where it is installed; otherwise Debian's rustc-web with its
# std source and -Zbuild-std (see docs/frontend.md). Installs what is missing (apt packages; the
# wasm-bindgen-cli of the exact version frontend/Cargo.lock resolves, into ~/.cargo/bin), runs
# wasm-bindgen, optimises with wasm-opt only when a working one is at hand. The wasm build has its own
# target dir, so it never invalidates the native one. Nothing changed since the last build: returns at once.
#
# Environment: SI_WASM_TARGET_DIR (default /var/tmp/scaleinfra-wasm-target),
#              SI_FRONTEND_FORCE=1 (rebuild even when the inputs are unchanged).
. "$(dirname "$0")/../scripts/lib.sh"

FRONT="$ROOT/frontend"
DIST="$FRONT/dist"
WASM_TARGET_DIR=${SI_WASM_TARGET_DIR:-/var/tmp/scaleinfra-wasm-target}
STAMP="$WASM_TARGET_DIR/dist.stamp"
TARGET=wasm32-unknown-unknown
CRATE=scaleinfra_frontend
started=$(date +%s)

sha() { sha256sum | cut -c1-64; }

# Everything the output depends on: the frontend's sources and manifests, `common` (and the workspace
# manifest it inherits from), this script, and which toolchain mode is used.
fingerprint() {
  {
    (cd "$ROOT" && find frontend/src common/src -type f -name '*.rs' -print0 | sort -z | xargs -0 sha256sum)
    (cd "$ROOT" && sha256sum frontend/Cargo.toml frontend/Cargo.lock frontend/index.html frontend/style.css \
      common/Cargo.toml Cargo.toml infra/build-frontend.sh)
    echo "mode=$1"
  } | sha
}

need_cargo
if rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  MODE=rustup
else
  MODE=debian
fi

FP=$(fingerprint "$MODE")
if [ -z "${SI_FRONTEND_FORCE:-}" ] && [ -f "$DIST/index.html" ] && [ -f "$STAMP" ] \
  && [ "$(cat "$STAMP")" = "$FP $(sha <"$DIST/index.html")" ]; then
  log "frontend up to date ($DIST)"
  exit 0
fi

# ---- toolchain ----
if [ "$MODE" = rustup ]; then
  log "frontend: rustup's $TARGET target"
  WASM_CARGO=(cargo)
else
  log "frontend: Debian's rustc-web with -Zbuild-std (rustup has no $TARGET target here)"
  apt_install rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  # Debian's compiler and cargo, std rebuilt for wasm32 from rust-web-src. Kept in this process's
  # environment only: a workspace-level [unstable] build-std would break the host builds.
  export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
  export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  WASM_CARGO=(/usr/bin/cargo)
fi
# Any RUSTFLAGS change would rebuild std (minutes): build with none, whatever the caller has set.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS RUSTC_WRAPPER

WB_VER=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$FRONT/Cargo.lock")
[ -n "$WB_VER" ] || { echo "frontend/Cargo.lock names no wasm-bindgen" >&2; exit 1; }
WASM_BINDGEN=$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")
if ! "$WASM_BINDGEN" --version 2>/dev/null | grep -qx "wasm-bindgen $WB_VER"; then
  log "installing wasm-bindgen-cli $WB_VER (once per machine, several minutes)"
  # Not --locked: a dependency pinned by its lockfile is missing from the registry mirror here.
  (unset RUSTC RUSTDOC RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD; \
    nice -n 10 cargo install --quiet --force wasm-bindgen-cli --version "$WB_VER")
  WASM_BINDGEN="$HOME/.cargo/bin/wasm-bindgen"
fi

# ---- compile ----
log "frontend: cargo build --release --target $TARGET"
(cd "$FRONT" && CARGO_TARGET_DIR="$WASM_TARGET_DIR" nice -n 10 "${WASM_CARGO[@]}" build --release \
  --locked --quiet --target "$TARGET")

mkdir -p "$WASM_TARGET_DIR"
STAGE=$(mktemp -d "$WASM_TARGET_DIR/dist-XXXXXX")
trap 'rm -rf "$STAGE" "$STAGE.bindgen"' EXIT
mkdir -p "$STAGE.bindgen"
"$WASM_BINDGEN" --target web --no-typescript --remove-name-section --remove-producers-section \
  --out-dir "$STAGE.bindgen" --out-name app "$WASM_TARGET_DIR/$TARGET/release/$CRATE.wasm"

WASM="$STAGE.bindgen/app_bg.wasm"
if command -v wasm-opt >/dev/null 2>&1; then
  # Debian's binaryen 108 cannot read wasm-bindgen's output (table.fill): keep the input when it fails.
  if wasm-opt -Oz --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-reference-types --enable-multivalue "$WASM" -o "$WASM.opt" 2>/dev/null; then
    mv "$WASM.opt" "$WASM"
    log "frontend: optimised with $(wasm-opt --version)"
  else
    rm -f "$WASM.opt"
    log "frontend: wasm-opt at hand cannot read this module; keeping it unoptimised"
  fi
fi

# ---- content-hashed names ----
hashed() { # hashed FILE STEM EXT -> prints the new name, copies FILE under it into $STAGE
  local h
  h=$(sha <"$1" | cut -c1-16)
  cp "$1" "$STAGE/$2-$h.$3"
  echo "$2-$h.$3"
}
APP_WASM=$(hashed "$WASM" app wasm)
APP_JS=$(hashed "$STAGE.bindgen/app.js" app js)
STYLE=$(hashed "$FRONT/style.css" style css)
# A module of our own starts the app: the CSP admits no inline script.
printf "import init from './%s';\ninit({ module_or_path: '/%s' });\n" "$APP_JS" "$APP_WASM" >"$STAGE.bindgen/boot.js"
BOOT=$(hashed "$STAGE.bindgen/boot.js" boot js)
sed -e "s|{{STYLE}}|$STYLE|g" -e "s|{{APP_JS}}|$APP_JS|g" -e "s|{{APP_WASM}}|$APP_WASM|g" \
  -e "s|{{BOOT}}|$BOOT|g" "$FRONT/index.html" >"$STAGE/index.html"
if grep -q '{{' "$STAGE/index.html"; then
  echo "frontend/index.html has a placeholder this script does not fill" >&2
  exit 1
fi
# Pre-compressed siblings, sent by the backend to clients that accept gzip.
for f in "$STAGE"/*.wasm "$STAGE"/*.js "$STAGE"/*.css; do
  gzip -9 -n -k "$f"
done
chmod 755 "$STAGE"

# ---- swap into place ----
first=; [ -f "$DIST/index.html" ] || first=1
rm -rf "$DIST.old"
[ -d "$DIST" ] && mv "$DIST" "$DIST.old"
mv "$STAGE" "$DIST"
rm -rf "$DIST.old"
# rust-embed tracks the files it embedded, not the folder: a release binary compiled while dist/ was
# missing would not notice it appear. Make cargo recompile the module that embeds it.
[ -n "$first" ] && touch "$ROOT/backend/src/spa.rs"
mkdir -p "$WASM_TARGET_DIR"
echo "$FP $(sha <"$DIST/index.html")" >"$STAMP"

raw=$(stat -c %s "$DIST/$APP_WASM")
gz=$(gzip -9 -c "$DIST/$APP_WASM" | wc -c)
log "frontend: $DIST ($APP_WASM: $raw bytes, $gz gzip) in $(($(date +%s) - started)) s"
