#!/bin/sh
# health-check: ScaleInfra CloudScript (rendered with minijinja before it runs).
# Checks that http://127.0.0.1:<vars.port><vars.path> answers with a 2xx or 3xx status within
# vars.timeout_secs seconds. Uses curl when present, else python3, else nc (busybox nc works).
# Exit 0: healthy. Exit 1: unhealthy (or it cannot be checked), with a message saying why.
# It changes nothing on the appliance.
set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
SCRIPT=health-check

PORT='{{ vars.port }}'
HPATH='{{ vars.path|replace("'", "'\\''") }}'
TIMEOUT='{{ vars.timeout_secs }}'

log() { printf '[%s] %s\n' "$SCRIPT" "$*"; }
unhealthy() { printf '[%s] UNHEALTHY: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

case "$PORT" in ''|*[!0-9]*) unhealthy "port must be a TCP port number, got '$PORT'";; esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then unhealthy "port must be between 1 and 65535, got $PORT"; fi
case "$TIMEOUT" in ''|*[!0-9]*) unhealthy "timeout_secs must be a whole number of seconds, got '$TIMEOUT'";; esac
if [ "$TIMEOUT" -lt 1 ]; then TIMEOUT=1; fi
case "$HPATH" in /*) ;; *) unhealthy "path must start with '/', got '$HPATH'";; esac
case "$HPATH" in *' '*|*'	'*) unhealthy "path must not contain blanks";; esac
if [ "$(printf '%s' "$HPATH" | wc -l)" -ne 0 ]; then unhealthy "path must be a single line"; fi

URL="http://127.0.0.1:$PORT$HPATH"
# an overall deadline for the fallbacks, whose own timeouts apply per socket operation
LIMIT=
if command -v timeout >/dev/null 2>&1; then LIMIT="timeout $TIMEOUT"; fi

CODE=
DETAIL=
if command -v curl >/dev/null 2>&1; then
  TOOL=curl
  RC=0
  CODE=$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" "$URL" 2>/tmp/.health-check.$$) || RC=$?
  DETAIL=$(head -c 300 /tmp/.health-check.$$ 2>/dev/null || true)
  rm -f /tmp/.health-check.$$
  if [ "$RC" -ne 0 ]; then CODE=; fi
elif command -v python3 >/dev/null 2>&1; then
  TOOL=python3
  # shellcheck disable=SC2086
  CODE=$($LIMIT python3 - "$URL" "$TIMEOUT" 2>&1 <<'EOF_PY'
import sys, urllib.request, urllib.error

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # report 3xx as it is instead of following it

opener = urllib.request.build_opener(NoRedirect)
try:
    with opener.open(sys.argv[1], timeout=float(sys.argv[2])) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(e)
EOF_PY
) || true
  case "$CODE" in [0-9][0-9][0-9]) ;; *) DETAIL=$CODE; CODE=;; esac
elif command -v nc >/dev/null 2>&1; then
  TOOL=nc
  # shellcheck disable=SC2086
  LINE=$(printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$HPATH" "$PORT" \
    | $LIMIT nc -w "$TIMEOUT" 127.0.0.1 "$PORT" 2>/dev/null | head -n 1) || true
  CODE=$(printf '%s\n' "$LINE" | sed -n 's/^HTTP\/[0-9.]*[[:space:]][[:space:]]*\([0-9][0-9][0-9]\).*/\1/p')
  if [ -z "$CODE" ]; then DETAIL="no HTTP status line in the answer"; fi
else
  unhealthy "cannot check $URL: none of curl, python3 or nc is installed"
fi

if [ -z "$CODE" ] || [ "$CODE" = 000 ]; then
  unhealthy "$URL did not answer within ${TIMEOUT}s ($TOOL${DETAIL:+: $DETAIL})"
fi
case "$CODE" in
  2??|3??) log "healthy: $URL answered HTTP $CODE ($TOOL)"; exit 0;;
  *) unhealthy "$URL answered HTTP $CODE ($TOOL)";;
esac
