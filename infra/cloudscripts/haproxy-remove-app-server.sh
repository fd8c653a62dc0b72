#!/bin/sh
# haproxy-remove-app-server: ScaleInfra CloudScript (rendered with minijinja before it runs).
# Removes an app server from the HAProxy load balancer. When run for an event that names an
# appliance, it first drains that server through the runtime API (new sessions stop going to it)
# and waits up to vars.drain_secs for its current sessions to reach 0; then, like
# haproxy-add-app-servers, it regenerates the WHOLE config from the live appliances of layer
# vars.backend_layer (the removed appliance is no longer live, and is skipped in any case),
# validates it with `haproxy -c`, installs it atomically and reloads gracefully.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
SCRIPT=haproxy-remove-app-server
CFG=/etc/haproxy/haproxy.cfg
PIDFILE=/run/haproxy.pid
SOCK=/run/haproxy/admin.sock

BACKEND_LAYER='{{ vars.backend_layer|replace("'", "'\\''") }}'
BACKEND_PORT='{{ vars.backend_port }}'
LISTEN_PORT='{{ vars.listen_port }}'
HEALTH_PATH='{{ vars.health_path|replace("'", "'\\''") }}'
LIVE_COUNT='{{ layer(vars.backend_layer).count }}'
DRAIN_SECS='{{ vars.drain_secs }}'
{% set removed = event.appliance.name if (event and event.appliance) else "" -%}
REMOVED='{{ removed|replace("'", "'\\''") }}'

log() { printf '[%s] %s\n' "$SCRIPT" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$SCRIPT" "$*" >&2; exit 1; }
has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
# shellcheck disable=SC2046 # a pid file may hold several pids
pid_alive() { [ -s "$1" ] && kill -0 $(cat "$1") 2>/dev/null; }

TMP=
cleanup() {
  if [ -n "$TMP" ]; then rm -f "$TMP"; fi
  return 0
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE

check_port() {
  case "$2" in ''|*[!0-9]*) die "$1 must be a TCP port number, got '$2'";; esac
  if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then die "$1 must be between 1 and 65535, got $2"; fi
}
check_http_path() {
  case "$2" in /*) ;; *) die "$1 must start with '/', got '$2'";; esac
  case "$2" in *' '*|*'	'*|*'#'*|*'"'*|*"'"*|*'\'*) die "$1 must not contain blanks, quotes, backslashes or '#'";; esac
  if [ "$(printf '%s' "$2" | wc -l)" -ne 0 ]; then die "$1 must be a single line"; fi
}

start_or_reload() { # $1: 1 when the config changed
  mkdir -p /run/haproxy
  chown haproxy:haproxy /run/haproxy 2>/dev/null || true
  if has_systemd; then
    systemctl enable haproxy >/dev/null 2>&1 || true
    if systemctl is-active --quiet haproxy; then
      if [ "$1" = 1 ]; then
        systemctl reload haproxy || die "systemctl reload haproxy failed"
        log "reloaded haproxy gracefully (systemctl reload)"
      else
        log "haproxy is running with this config; nothing to reload"
      fi
    else
      systemctl start haproxy || die "systemctl start haproxy failed (see: journalctl -u haproxy)"
      log "started haproxy (systemd)"
    fi
  elif pid_alive "$PIDFILE"; then
    if [ "$1" = 1 ]; then
      OLD=$(cat "$PIDFILE")
      # new process takes over the listening sockets (-x) and tells the old one(s) to finish (-sf)
      # shellcheck disable=SC2086
      if [ -S "$SOCK" ] && haproxy -D -f "$CFG" -p "$PIDFILE" -x "$SOCK" -sf $OLD; then
        :
      else
        # shellcheck disable=SC2086
        haproxy -D -f "$CFG" -p "$PIDFILE" -sf $OLD || die "haproxy reload failed"
      fi
      log "reloaded haproxy gracefully (old pid(s) $OLD finish their connections)"
    else
      log "haproxy is running (pid $(cat "$PIDFILE")) with this config; nothing to reload"
    fi
  else
    haproxy -D -f "$CFG" -p "$PIDFILE" || die "could not start haproxy"
    log "started haproxy (pid $(cat "$PIDFILE"))"
  fi
}

print_servers() {
  N=0
  log "servers in backend app:"
  while read -r KW NAME ADDR _REST; do
    [ "$KW" = server ] || continue
    log "  $NAME $ADDR"
    N=$((N + 1))
  done < "$CFG"
  if [ "$N" -eq 0 ]; then log "  (none: layer '$BACKEND_LAYER' has no live appliance with an ip)"; fi
  log "configured $N server(s) from layer '$BACKEND_LAYER'"
}

drain_server() {
  if [ -z "$REMOVED" ]; then
    log "no event appliance: nothing to drain"
    return 0
  fi
  if ! command -v socat >/dev/null 2>&1; then
    log "socat is not installed: skipping the drain of $REMOVED (install socat to drain first)"
    return 0
  fi
  if [ ! -S "$SOCK" ]; then
    log "runtime socket $SOCK not found (haproxy not running?): skipping the drain of $REMOVED"
    return 0
  fi
  if ! ANSWER=$(echo "set server app/$REMOVED state drain" | socat stdio "$SOCK" 2>&1); then
    log "runtime API not reachable ($ANSWER): skipping the drain of $REMOVED"
    return 0
  fi
  case "$ANSWER" in
    *[!\ \	]*) log "haproxy did not drain app/$REMOVED: $ANSWER"; return 0;;
  esac
  log "draining app/$REMOVED (no new sessions); waiting up to ${DRAIN_SECS}s for its sessions to end"
  WAITED=0
  while :; do
    SCUR=$(echo "show stat" | socat stdio "$SOCK" 2>/dev/null \
      | awk -F, -v s="$REMOVED" '$1 == "app" && $2 == s { print $5; exit }') || SCUR=
    if [ -z "$SCUR" ]; then
      log "app/$REMOVED no longer reported by haproxy"
      return 0
    fi
    if [ "$SCUR" -eq 0 ] 2>/dev/null; then
      log "app/$REMOVED has no current sessions after ${WAITED}s"
      return 0
    fi
    if [ "$WAITED" -ge "$DRAIN_SECS" ]; then
      log "app/$REMOVED still has $SCUR session(s) after ${DRAIN_SECS}s; removing it anyway (the graceful reload lets the old process finish them)"
      return 0
    fi
    sleep 1
    WAITED=$((WAITED + 1))
  done
}

# --- main ---------------------------------------------------------------------------------------
check_port backend_port "$BACKEND_PORT"
check_port listen_port "$LISTEN_PORT"
check_http_path health_path "$HEALTH_PATH"
case "$DRAIN_SECS" in ''|*[!0-9]*) die "drain_secs must be a number of seconds, got '$DRAIN_SECS'";; esac
command -v haproxy >/dev/null 2>&1 || die "haproxy is not installed: run install-haproxy first"

drain_server

log "layer '$BACKEND_LAYER' has $LIVE_COUNT live appliance(s) at {{ now }}"
mkdir -p /etc/haproxy
TMP=$(mktemp /etc/haproxy/.haproxy.cfg.XXXXXX)
cat > "$TMP" <<'SCALEINFRA_HAPROXY_CFG'
# Generated by the ScaleInfra CloudScripts haproxy-add-app-servers / haproxy-remove-app-server
# from the live appliances of layer {{ vars.backend_layer }}; do not edit by hand.
# scaleinfra-managed: servers
global
    log /dev/log local0
    user haproxy
    group haproxy
    maxconn 4096
    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners
    stats timeout 30s

defaults
    log global
    mode http
    option httplog
    option dontlognull
    option forwardfor
    # a request whose server went away (its connection refused or timed out) is retried on another
    retries 3
    option redispatch 1
    timeout connect 2s
    timeout client 50s
    timeout server 50s

frontend web
    bind *:{{ vars.listen_port }}
    default_backend app

backend app
    balance roundrobin
    option httpchk GET {{ vars.health_path }}
    default-server inter 2s fall 3 rise 2
{%- for a in layer(vars.backend_layer).appliances if a.name != removed %}
    server {{ a.name }} {% if ":" in a.ip %}[{{ a.ip }}]{% else %}{{ a.ip }}{% endif %}:{{ vars.backend_port }} check
{%- endfor %}
SCALEINFRA_HAPROXY_CFG
chmod 644 "$TMP"

if ! OUT=$(haproxy -c -q -f "$TMP" 2>&1); then
  printf '%s\n' "$OUT" >&2
  die "generated config is invalid; $CFG left unchanged"
fi
log "generated config is valid (haproxy -c)"

CHANGED=0
if [ -f "$CFG" ] && cmp -s "$TMP" "$CFG"; then
  rm -f "$TMP"
  log "$CFG unchanged"
else
  mv -f "$TMP" "$CFG"
  CHANGED=1
  log "installed new $CFG"
fi
TMP=

start_or_reload "$CHANGED"
if [ -n "$REMOVED" ]; then log "removed app/$REMOVED from the load balancer"; fi
print_servers
