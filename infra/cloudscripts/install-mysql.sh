#!/bin/sh
# install-mysql: ScaleInfra CloudScript (rendered with minijinja before it runs).
# Installs the MariaDB server from Debian, sets its bind-address, starts it, and creates the
# database vars.database and the user vars.user (from any host) with all privileges on it.
# Idempotent: CREATE ... IF NOT EXISTS, then ALTER USER to (re)set the password.
# The password is read from the PASSWORD environment variable that the agent exports for the
# secret variable `password`; it is never printed, rendered into this text, or put on a command line.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
SCRIPT=install-mysql
CNF=/etc/mysql/mariadb.conf.d/99-scaleinfra.cnf

BIND_ADDRESS='{{ vars.bind_address|replace("'", "'\\''") }}'
DATABASE='{{ vars.database|replace("'", "'\\''") }}'
DB_USER='{{ vars.user|replace("'", "'\\''") }}'

log() { printf '[%s] %s\n' "$SCRIPT" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$SCRIPT" "$*" >&2; exit 1; }
has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

TMP=
POLICY_CREATED=
cleanup() {
  if [ -n "$TMP" ]; then rm -f "$TMP"; fi
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

# --- checks -------------------------------------------------------------------------------------
PASSWORD=${PASSWORD:-}
PW_FILE=/root/.scaleinfra-mysql-password
if [ -z "$PASSWORD" ]; then
  # no password given (the template's install run): make one once and keep it for root only
  if [ ! -s "$PW_FILE" ]; then
    umask 077
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$PW_FILE"
  fi
  PASSWORD=$(cat "$PW_FILE")
  log "no password given: using the generated one in $PW_FILE"
fi
case "$DATABASE" in ''|*[!A-Za-z0-9_]*) die "database must be letters, digits and '_', got '$DATABASE'";; esac
case "$DB_USER" in ''|*[!A-Za-z0-9_.-]*) die "user must be letters, digits, '_', '.' and '-', got '$DB_USER'";; esac
# (string lengths via wc: the shell's length operator would read as a template comment tag)
[ "$(printf '%s' "$DATABASE" | wc -c)" -le 64 ] || die "database name is longer than 64 characters"
[ "$(printf '%s' "$DB_USER" | wc -c)" -le 80 ] || die "user name is longer than 80 characters"
case "$BIND_ADDRESS" in ''|*[!A-Za-z0-9.:*_-]*) die "bind_address must be an address or host name, got '$BIND_ADDRESS'";; esac

# --- install & configure ------------------------------------------------------------------------
need mariadb-server mariadbd
need mariadb-client mariadb
install_missing
CLIENT=$(command -v mariadb || command -v mysql || true)
ADMIN=$(command -v mariadb-admin || command -v mysqladmin || true)
[ -n "$CLIENT" ] && [ -n "$ADMIN" ] || die "MariaDB client tools not found after installation"

CHANGED=0
mkdir -p "$(dirname "$CNF")"
TMP=$(mktemp "$(dirname "$CNF")/.99-scaleinfra.cnf.XXXXXX")
cat > "$TMP" <<EOF_CNF
# Written by the ScaleInfra CloudScript install-mysql; do not edit by hand.
[mysqld]
bind-address = $BIND_ADDRESS
EOF_CNF
chmod 644 "$TMP"
if [ -f "$CNF" ] && cmp -s "$TMP" "$CNF"; then
  rm -f "$TMP"
  log "$CNF unchanged (bind-address = $BIND_ADDRESS)"
else
  mv -f "$TMP" "$CNF"
  CHANGED=1
  log "wrote $CNF (bind-address = $BIND_ADDRESS)"
fi
TMP=

# --- start / restart ----------------------------------------------------------------------------
alive() { "$ADMIN" --protocol=socket -uroot ping >/dev/null 2>&1; }
wait_alive() {
  I=0
  while [ "$I" -lt 60 ]; do
    if alive; then return 0; fi
    sleep 1
    I=$((I + 1))
  done
  die "MariaDB did not answer within 60s (see /var/log/mysql/ or /var/log/scaleinfra-mariadb.log)"
}
start_direct() {
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising the data directory"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null || die "mariadb-install-db failed"
  fi
  if [ -x /etc/init.d/mariadb ]; then
    /etc/init.d/mariadb start || die "/etc/init.d/mariadb start failed"
  else
    nohup mysqld_safe --user=mysql >>/var/log/scaleinfra-mariadb.log 2>&1 </dev/null &
  fi
}
if has_systemd; then
  systemctl enable mariadb >/dev/null 2>&1 || true
  if ! systemctl is-active --quiet mariadb; then
    systemctl start mariadb || die "systemctl start mariadb failed (see: journalctl -u mariadb)"
    log "started mariadb (systemd)"
  elif [ "$CHANGED" = 1 ]; then
    systemctl restart mariadb || die "systemctl restart mariadb failed (see: journalctl -u mariadb)"
    log "restarted mariadb for the new bind-address"
  else
    log "mariadb is running with this config"
  fi
else
  if alive; then
    if [ "$CHANGED" = 1 ]; then
      log "restarting mariadb for the new bind-address"
      "$ADMIN" --protocol=socket -uroot shutdown || die "could not stop mariadb"
      I=0
      while alive && [ "$I" -lt 30 ]; do sleep 1; I=$((I + 1)); done
      start_direct
    else
      log "mariadb is running with this config"
    fi
  else
    log "starting mariadb (no init system)"
    start_direct
  fi
fi
wait_alive
log "mariadb is up"

# --- database and user --------------------------------------------------------------------------
# escape for a single-quoted SQL string: backslash first, then the quote
PW_SQL=$(printf '%s' "$PASSWORD" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")
"$CLIENT" --protocol=socket -uroot <<EOF_SQL || die "creating the database or the user failed"
CREATE DATABASE IF NOT EXISTS \`$DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$PW_SQL';
ALTER USER '$DB_USER'@'%' IDENTIFIED BY '$PW_SQL';
GRANT ALL PRIVILEGES ON \`$DATABASE\`.* TO '$DB_USER'@'%';
FLUSH PRIVILEGES;
EOF_SQL
PW_SQL=
log "database '$DATABASE' exists"
log "user '$DB_USER'@'%' exists with all privileges on '$DATABASE' (password set; not shown)"
log "done: MariaDB listens on $BIND_ADDRESS:3306"
