#!/bin/sh
# install-php: ScaleInfra CloudScript (rendered with minijinja before it runs).
# Installs php-fpm and nginx from Debian and serves vars.doc_root on vars.port, passing *.php to
# php-fpm. Writes a default index.php that prints the appliance name unless the site already has
# its own index.php. The nginx config is checked with `nginx -t` (rolled back on failure) and
# nginx is reloaded gracefully; works with systemd or with no init system at all.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
SCRIPT=install-php
SITE_NAME=scaleinfra-php
SITE=/etc/nginx/sites-available/$SITE_NAME
LINK=/etc/nginx/sites-enabled/$SITE_NAME
MARKER='scaleinfra-default-index'

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
need php-fpm
install_missing
command -v nginx >/dev/null 2>&1 || die "nginx not found after installation"
PHPV=$(ls /etc/php 2>/dev/null | sort -V | tail -n 1)
[ -n "$PHPV" ] || die "no PHP version found in /etc/php after installing php-fpm"
FPM=$(command -v "php-fpm$PHPV" || true)
[ -n "$FPM" ] || die "php-fpm$PHPV not found"
FPM_SOCK=/run/php/php$PHPV-fpm.sock
FPM_PID=/run/php/php$PHPV-fpm.pid
log "PHP $PHPV (php-fpm socket $FPM_SOCK)"

# --- php-fpm --------------------------------------------------------------------------------------
if has_systemd; then
  systemctl enable "php$PHPV-fpm" >/dev/null 2>&1 || true
  if systemctl is-active --quiet "php$PHPV-fpm"; then
    log "php$PHPV-fpm is running"
  else
    systemctl start "php$PHPV-fpm" || die "systemctl start php$PHPV-fpm failed"
    log "started php$PHPV-fpm (systemd)"
  fi
elif pid_alive "$FPM_PID"; then
  log "php-fpm$PHPV is running (pid $(cat "$FPM_PID"))"
else
  mkdir -p /run/php
  "$FPM" -t >/dev/null 2>&1 || die "php-fpm$PHPV configuration test failed (run: $FPM -t)"
  "$FPM" --daemonize || die "could not start php-fpm$PHPV"
  log "started php-fpm$PHPV (no init system)"
fi

# --- document root and default index.php ------------------------------------------------------------
mkdir -p "$DOC_ROOT"
INDEX=$DOC_ROOT/index.php
if [ -f "$INDEX" ] && ! grep -q "$MARKER" "$INDEX"; then
  log "$INDEX exists and is not ours; leaving it"
else
  TMP=$(mktemp "$DOC_ROOT/.index.php.XXXXXX")
  cat > "$TMP" <<'EOF_PHP'
<?php
// scaleinfra-default-index: written by the ScaleInfra CloudScript install-php; remove this
// line (or replace the file) to keep your own index.php.
$appliance = <<<'SCALEINFRA_APPLIANCE_NAME'
{% if appliance %}{{ appliance.name }}{% else %}unknown{% endif %}
SCALEINFRA_APPLIANCE_NAME;
header('Content-Type: text/plain; charset=utf-8');
echo "Hello from appliance " . $appliance . "\n";
echo "PHP " . PHP_VERSION . "\n";
EOF_PHP
  chmod 644 "$TMP"
  if [ -f "$INDEX" ] && cmp -s "$TMP" "$INDEX"; then
    rm -f "$TMP"
    log "unchanged: $INDEX"
  else
    mv -f "$TMP" "$INDEX"
    log "wrote $INDEX (prints the appliance name)"
  fi
  TMP=
fi

# --- nginx site -------------------------------------------------------------------------------------
SITE_TEXT=$(sed -e "s|@PORT@|$PORT|g" -e "s|@DOC_ROOT@|$DOC_ROOT|g" -e "s|@FPM_SOCK@|$FPM_SOCK|g" <<'EOF_SITE'
# Written by the ScaleInfra CloudScript install-php; do not edit by hand.
server {
    listen @PORT@ default_server;
    server_name _;
    root @DOC_ROOT@;
    index index.php index.html index.htm;

    location / {
        try_files $uri $uri/ =404;
    }

    location ~ \.php$ {
        include snippets/fastcgi-php.conf;
        fastcgi_pass unix:@FPM_SOCK@;
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
log "done: PHP site $DOC_ROOT on port $PORT"
