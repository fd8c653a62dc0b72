#!/bin/sh
# install-rails: ScaleInfra CloudScript (rendered with minijinja before it runs).
# Installs Ruby, bundler, Rack and puma from Debian packages and serves the app in vars.app_dir with
# puma on vars.port, as www-data. If no app is deployed there (no config.ru, or only the placeholder
# this script wrote), it writes a minimal placeholder Rack app. The environment (DATABASE_HOST from
# vars.database_host, PORT, APP_DIR, RACK_ENV/RAILS_ENV) goes to /etc/scaleinfra/rails.env, a plain
# KEY='value' file that the launcher sources (no systemd needed). Runs under systemd when there is
# one, otherwise as a background process with a pid file; restarts only when something changed.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
SCRIPT=install-rails
ENV_FILE=/etc/scaleinfra/rails.env
RUNNER=/usr/local/bin/scaleinfra-rails-run
UNIT=/etc/systemd/system/scaleinfra-rails.service
RUNDIR=/run/scaleinfra-rails
PIDFILE=$RUNDIR/puma.pid
LOGFILE=/var/log/scaleinfra-rails.log
RUN_AS=www-data
MARKER='# scaleinfra-placeholder'

PORT='{{ vars.port }}'
APP_DIR='{{ vars.app_dir|replace("'", "'\\''") }}'
DATABASE_HOST='{{ vars.database_host|replace("'", "'\\''") }}'
APPLIANCE_NAME='{% if appliance %}{{ appliance.name|replace("'", "'\\''") }}{% endif %}'

log() { printf '[%s] %s\n' "$SCRIPT" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$SCRIPT" "$*" >&2; exit 1; }
has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
# shellcheck disable=SC2046 # a pid file may hold several pids
pid_alive() { [ -s "$1" ] && kill -0 $(cat "$1") 2>/dev/null; }
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; } # single-quote for sh

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

# put_file DEST MODE < content: atomically replace DEST when the content differs; sets CHANGED=1
CHANGED=0
put_file() {
  mkdir -p "$(dirname "$1")"
  TMP=$(mktemp "$(dirname "$1")/.$(basename "$1").XXXXXX")
  cat > "$TMP"
  chmod "$2" "$TMP"
  if [ -f "$1" ] && cmp -s "$TMP" "$1"; then
    rm -f "$TMP"
    log "unchanged: $1"
  else
    mv -f "$TMP" "$1"
    CHANGED=1
    log "wrote $1"
  fi
  TMP=
}

# --- checks -------------------------------------------------------------------------------------
case "$PORT" in ''|*[!0-9]*) die "port must be a TCP port number, got '$PORT'";; esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then die "port must be between 1 and 65535, got $PORT"; fi
case "$APP_DIR" in /?*) ;; *) die "app_dir must be an absolute path, got '$APP_DIR'";; esac
case "$APP_DIR" in *[!A-Za-z0-9._/-]*) die "app_dir may only hold letters, digits and . _ - /";; esac

# --- install --------------------------------------------------------------------------------------
need ruby ruby
need bundler bundle
need ruby-rack
need puma puma
install_missing
command -v ruby >/dev/null 2>&1 || die "ruby not found after installation"
command -v puma >/dev/null 2>&1 || die "puma not found after installation"
log "$(ruby -v)"
id "$RUN_AS" >/dev/null 2>&1 || die "user $RUN_AS does not exist"

# --- the app --------------------------------------------------------------------------------------
mkdir -p "$APP_DIR"
if [ -f "$APP_DIR/config.ru" ] && ! grep -q "^$MARKER" "$APP_DIR/config.ru"; then
  log "an app is deployed in $APP_DIR; serving it"
  for D in tmp log; do
    mkdir -p "$APP_DIR/$D"
    chown "$RUN_AS:$RUN_AS" "$APP_DIR/$D"
  done
  if [ -f "$APP_DIR/Gemfile" ]; then
    if (cd "$APP_DIR" && bundle check >/dev/null 2>&1); then
      log "bundle is complete"
    else
      log "bundle install (into $APP_DIR/vendor/bundle)"
      (cd "$APP_DIR" && bundle config set --local path vendor/bundle && bundle install) \
        || die "bundle install failed in $APP_DIR"
      CHANGED=1
    fi
  fi
else
  log "no app deployed in $APP_DIR; serving the placeholder Rack app"
  put_file "$APP_DIR/config.ru" 644 <<'EOF_RU'
# scaleinfra-placeholder: written by the ScaleInfra CloudScript install-rails while no app is
# deployed here; deploy an app with its own config.ru to replace it.
require "socket"
run lambda { |env|
  body = "ScaleInfra placeholder Rack app on #{ENV.fetch("SCALEINFRA_APPLIANCE", Socket.gethostname)}\n" \
         "DATABASE_HOST=#{ENV.fetch("DATABASE_HOST", "")}\n"
  [200, { "content-type" => "text/plain; charset=utf-8" }, [body]]
}
EOF_RU
fi

# remember what is served, so that a newly deployed app (or a changed bundle) restarts puma
SERVED=$(cd "$APP_DIR" && cksum config.ru Gemfile.lock 2>/dev/null || true)
put_file /var/lib/scaleinfra/rails.served 644 <<EOF_SERVED
$SERVED
EOF_SERVED

# --- environment file and launcher ---------------------------------------------------------------
put_file "$ENV_FILE" 640 <<EOF_ENV
# Written by the ScaleInfra CloudScript install-rails; sourced by $RUNNER.
DATABASE_HOST=$(shq "$DATABASE_HOST")
PORT=$(shq "$PORT")
APP_DIR=$(shq "$APP_DIR")
RACK_ENV='production'
RAILS_ENV='production'
SCALEINFRA_APPLIANCE=$(shq "$APPLIANCE_NAME")
EOF_ENV
chgrp "$RUN_AS" "$ENV_FILE"

put_file "$RUNNER" 755 <<'EOF_RUN'
#!/bin/sh
# Launcher written by the ScaleInfra CloudScript install-rails: puma for the app in $APP_DIR.
set -eu
set -a
. /etc/scaleinfra/rails.env
set +a
cd "$APP_DIR"
if [ -f Gemfile ] && command -v bundle >/dev/null 2>&1 && bundle check >/dev/null 2>&1; then
  exec bundle exec puma -b "tcp://0.0.0.0:$PORT" -e "$RACK_ENV" --pidfile /run/scaleinfra-rails/puma.pid config.ru
fi
exec puma -b "tcp://0.0.0.0:$PORT" -e "$RACK_ENV" --pidfile /run/scaleinfra-rails/puma.pid config.ru
EOF_RUN

# --- run ------------------------------------------------------------------------------------------
wait_port() {
  I=0
  while [ "$I" -lt 60 ]; do
    if ruby -rsocket -e 'TCPSocket.new("127.0.0.1", ARGV[0].to_i).close' "$PORT" 2>/dev/null; then
      log "puma answers on port $PORT"
      return 0
    fi
    sleep 1
    I=$((I + 1))
  done
  die "puma does not answer on port $PORT after 60s (see $1)"
}

if has_systemd; then
  put_file "$UNIT" 644 <<EOF_UNIT
# Written by the ScaleInfra CloudScript install-rails.
[Unit]
Description=ScaleInfra Rack/Rails app (puma on port $PORT)
After=network-online.target

[Service]
User=$RUN_AS
Group=$RUN_AS
RuntimeDirectory=scaleinfra-rails
ExecStart=$RUNNER
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF_UNIT
  systemctl daemon-reload
  systemctl enable scaleinfra-rails >/dev/null 2>&1 || true
  if ! systemctl is-active --quiet scaleinfra-rails; then
    systemctl start scaleinfra-rails || die "systemctl start scaleinfra-rails failed (see: journalctl -u scaleinfra-rails)"
    log "started scaleinfra-rails (systemd)"
  elif [ "$CHANGED" = 1 ]; then
    systemctl restart scaleinfra-rails || die "systemctl restart scaleinfra-rails failed"
    log "restarted scaleinfra-rails (systemd)"
  else
    log "scaleinfra-rails is running with this setup"
  fi
  wait_port "journalctl -u scaleinfra-rails"
else
  mkdir -p "$RUNDIR"
  chown "$RUN_AS:$RUN_AS" "$RUNDIR"
  if pid_alive "$PIDFILE" && [ "$CHANGED" = 0 ]; then
    log "puma is running (pid $(cat "$PIDFILE")) with this setup"
  else
    if pid_alive "$PIDFILE"; then
      OLD=$(cat "$PIDFILE")
      log "stopping puma (pid $OLD) to apply the changes"
      kill "$OLD" 2>/dev/null || true
      I=0
      while kill -0 "$OLD" 2>/dev/null && [ "$I" -lt 20 ]; do sleep 1; I=$((I + 1)); done
      if kill -0 "$OLD" 2>/dev/null; then kill -9 "$OLD" 2>/dev/null || true; fi
    fi
    rm -f "$PIDFILE"
    log "starting puma as $RUN_AS (no init system; log: $LOGFILE)"
    if command -v runuser >/dev/null 2>&1; then
      nohup runuser -u "$RUN_AS" -- "$RUNNER" >>"$LOGFILE" 2>&1 </dev/null &
    else
      nohup su -s /bin/sh -c "exec $RUNNER" "$RUN_AS" >>"$LOGFILE" 2>&1 </dev/null &
    fi
  fi
  wait_port "$LOGFILE"
fi
log "done: app in $APP_DIR served by puma on port $PORT (DATABASE_HOST='$DATABASE_HOST')"
