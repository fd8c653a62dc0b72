#!/bin/sh
# install-nginx-static: ScaleInfra CloudScript (rendered with minijinja before it runs).
# Installs nginx from Debian and serves the static files in vars.doc_root on vars.port. Writes a
# small index.html naming the appliance if the directory has no index page yet. The config is
# checked with `nginx -t` (rolled back on failure) and nginx is reloaded gracefully; works with
# systemd or with no init system at all.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
SCRIPT=install-nginx-static
SITE_NAME=scaleinfra-static
SITE=/etc/nginx/sites-available/$SITE_NAME
LINK=/etc/nginx/sites-enabled/$SITE_NAME

PORT='{{ vars.port }}'
DOC_ROOT='{{ vars.doc_root|replace("'", "'\\''") }}'

log() { printf '[%s] %s\n' "$SCRIPT" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$SCRIPT" "$*" >&2; exit 1; }
has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
# shellcheck disable=SC2046 # a pid file may hold several pids
pid_alive() { [ -s "$1" ] && kill -0 $(cat "$1") 2>/dev/null; }

TMP=
BACKUP=
POLICY_CREATED=
cleanup() {
  if [ -n "$TMP" ]; then rm -f "$TMP"; fi
  if [ -n "$BACKUP" ]; then rm -f "$BACKUP"; fi
  if [ -n "$POLICY_CREATED" ]; then rm -f /usr/sbin/policy-rc.d; fi
  return 0
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE

# --- packages -----------------------------------------------------------------------------------
MISSING=
need() { # need PACKAGE [COMMAND]: remember PACKAGE unless COMMAND is found or dpkg has it installed
  if [ -n "${2:-}" ] && command -v "$2" >/dev/null 2>&1; then return 0; fi
  if command -v dpkg >/dev/null 2>&1 && dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; then return 0; fi
  MISSING="$MISSING $1"
}
install_missing() {
  if [ -z "$MISSING" ]; then log "packages already installed"; return 0; fi
  command -v apt-get >/dev/null 2>&1 || die "cannot install$MISSING: apt-get not found (not a Debian appliance?)"
  DEBIAN_FRONTEND=noninteractive
  export DEBIAN_FRONTEND
  if ! has_systemd && [ ! -e /usr/sbin/policy-rc.d ]; then
    # no init system: keep package scripts from starting daemons; this script starts them itself
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_CREATED=1
  fi
  log "apt-get update"
  apt-get update -qq || die "apt-get update failed"
  log "installing:$MISSING"
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $MISSING || die "apt-get install$MISSING failed"
}

# --- nginx helpers --------------------------------------------------------------------------------
# install_site < config: put the site in place, enable it, check with nginx -t, roll back on failure.
# Sets SITE_CHANGED=1 when the enabled configuration changed.
SITE_CHANGED=0
install_site() {
  mkdir -p /etc/nginx/sites-available /etc/nginx/sites-enabled
  TMP=$(mktemp "/etc/nginx/sites-available/.$SITE_NAME.XXXXXX")
  cat > "$TMP"
  chmod 644 "$TMP"
  HAD_SITE=0
  HAD_LINK=0
  WROTE=0
  if [ -f "$SITE" ]; then HAD_SITE=1; fi
  if [ -L "$LINK" ] || [ -e "$LINK" ]; then HAD_LINK=1; fi
  if [ "$HAD_SITE" = 1 ] && [ "$HAD_LINK" = 1 ] && cmp -s "$TMP" "$SITE"; then
    rm -f "$TMP"
    TMP=
    log "nginx site $SITE_NAME unchanged"
  else
    if [ "$HAD_SITE" = 1 ]; then
      BACKUP=$(mktemp "/etc/nginx/.$SITE_NAME.backup.XXXXXX")
      cp -p "$SITE" "$BACKUP"
    fi
    mv -f "$TMP" "$SITE"
    TMP=
    ln -sfn "$SITE" "$LINK"
    WROTE=1
    SITE_CHANGED=1
    log "wrote $SITE and enabled it"
  fi
  if [ -L /etc/nginx/sites-enabled/default ]; then
    rm -f /etc/nginx/sites-enabled/default
    SITE_CHANGED=1
    log "disabled the Debian placeholder site 'default'"
  fi
  if ! OUT=$(nginx -t 2>&1); then
    printf '%s\n' "$OUT" >&2
    if [ "$WROTE" = 0 ]; then die "nginx rejects its configuration (site $SITE_NAME unchanged)"; fi
    if [ -n "$BACKUP" ]; then
      mv -f "$BACKUP" "$SITE"
      BACKUP=
    else
      rm -f "$SITE"
    fi
    if [ "$HAD_LINK" = 0 ]; then rm -f "$LINK"; fi
    die "nginx rejected the new site (is port $PORT used by another site?); previous state restored"
  fi
  log "nginx configuration is valid (nginx -t)"
}
start_or_reload_nginx() {
  if has_systemd; then
    systemctl enable nginx >/dev/null 2>&1 || true
    if ! systemctl is-active --quiet nginx; then
      systemctl start nginx || die "systemctl start nginx failed (see: journalctl -u nginx)"
      log "started nginx (systemd)"
    elif [ "$SITE_CHANGED" = 1 ]; then
      systemctl reload nginx || die "systemctl reload nginx failed"
      log "reloaded nginx gracefully"
    else
      log "nginx is running with this configuration"
    fi
  elif pid_alive /run/nginx.pid; then
    if [ "$SITE_CHANGED" = 1 ]; then
      nginx -s reload || die "nginx -s reload failed"
      log "reloaded nginx gracefully"
    else
      log "nginx is running (pid $(cat /run/nginx.pid)) with this configuration"
    fi
  else
    nginx || die "could not start nginx"
    log "started nginx (no init system)"
  fi
}

# --- checks -------------------------------------------------------------------------------------
case "$PORT" in ''|*[!0-9]*) die "port must be a TCP port number, got '$PORT'";; esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then die "port must be between 1 and 65535, got $PORT"; fi
case "$DOC_ROOT" in /?*) ;; *) die "doc_root must be an absolute path, got '$DOC_ROOT'";; esac
case "$DOC_ROOT" in *[!A-Za-z0-9._/-]*) die "doc_root may only hold letters, digits and . _ - /";; esac

# --- install ------------------------------------------------------------------------------------
need nginx nginx
install_missing
command -v nginx >/dev/null 2>&1 || die "nginx not found after installation"

# --- document root ----------------------------------------------------------------------------------
mkdir -p "$DOC_ROOT"
if [ -e "$DOC_ROOT/index.html" ] || [ -e "$DOC_ROOT/index.htm" ]; then
  log "$DOC_ROOT already has an index page; leaving it"
else
  TMP=$(mktemp "$DOC_ROOT/.index.html.XXXXXX")
  cat > "$TMP" <<'EOF_HTML'
{% set appliance_name = appliance.name if appliance else "unknown" -%}
<!doctype html>
<html><head><meta charset="utf-8"><title>{{ appliance_name|e }}</title></head>
<body><p>Static site served by nginx on appliance <b>{{ appliance_name|e }}</b> (ScaleInfra).</p></body></html>
EOF_HTML
  chmod 644 "$TMP"
  mv -f "$TMP" "$DOC_ROOT/index.html"
  TMP=
  log "wrote a placeholder $DOC_ROOT/index.html"
fi

# --- nginx site -------------------------------------------------------------------------------------
SITE_TEXT=$(sed -e "s|@PORT@|$PORT|g" -e "s|@DOC_ROOT@|$DOC_ROOT|g" <<'EOF_SITE'
# Written by the ScaleInfra CloudScript install-nginx-static; do not edit by hand.
server {
    listen @PORT@ default_server;
    server_name _;
    root @DOC_ROOT@;
    index index.html index.htm;

    location / {
        try_files $uri $uri/ =404;
    }

    location ~ /\.(?!well-known) {
        deny all;
    }
}
EOF_SITE
)
install_site <<EOF_SITE_TEXT
$SITE_TEXT
EOF_SITE_TEXT
start_or_reload_nginx
log "done: static site $DOC_ROOT on port $PORT"
