#!/usr/bin/env bash
# Benchmark: authenticated GET /api/v1/projects (a tenant with 1,000 projects) against a bare actix-web
# hello-world, at 64 and 200 connections, on SQLite and on PostgreSQL. Prints req/s, p50, p99 and the
# ratio. Goals (issue 2): ratio >= 0.5, p99 <= 20 ms at 200 connections. Asserts nothing.
. "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
need_cargo
native_build_deps
apt_install wrk curl jq
PG_URL=$("$ROOT/scripts/pg.sh")
DURATION=${DURATION:-10s}
log "building (release)"
cargo build --release --quiet -p scaleinfra-backend --bin scaleinfra -p scaleinfra-bench --bin hello-actix
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
PW='Bench-Operator-Quasar-42'

wait_http() { for _ in $(seq 1 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# wrk URL CONNS [TOKEN] -> "req/s p50_ms p99_ms"
measure() {
  local url=$1 conns=$2 token=${3:-} out
  if [ -n "$token" ]; then
    out=$(wrk -t2 -c"$conns" -d"$DURATION" --latency -H "Authorization: Bearer $token" "$url")
  else
    out=$(wrk -t2 -c"$conns" -d"$DURATION" --latency "$url")
  fi
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  [ -n "$errors" ] && echo "WARNING: $errors non-2xx responses from $url" >&2
  echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}
to_ms() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'; }

"$BIN/hello-actix" 127.0.0.1:18091 >/dev/null 2>&1 &
wait_http http://127.0.0.1:18091/

printf '\n%-9s %-6s %12s %9s %9s %12s %9s %9s %7s\n' engine conns "api req/s" "api p50" "api p99" "hello req/s" "h p50" "h p99" ratio
for engine in sqlite postgres; do
  if [ $engine = sqlite ]; then
    URL="sqlite://$WORK/bench.db"
  else
    as_root runuser -u postgres -- psql -q -c "DROP DATABASE IF EXISTS scaleinfra_bench WITH (FORCE)" -c "CREATE DATABASE scaleinfra_bench OWNER scaleinfra" >/dev/null
    base=${PG_URL%%\?*}   # the URL without its query (?sslmode=…), which is kept
    URL="${base%/*}/scaleinfra_bench${PG_URL#"$base"}"
  fi
  SCALEINFRA_ADMIN_EMAIL=op@bench.test SCALEINFRA_ADMIN_PASSWORD=$PW SCALEINFRA_LOG_LEVEL=warn \
    SCALEINFRA_LOGIN_PER_IP_PER_MINUTE=1000 "$BIN/scaleinfra" serve --database-url "$URL" --bind 127.0.0.1:18090 >"$WORK/$engine.log" 2>&1 &
  SERVER=$!
  wait_http http://127.0.0.1:18090/readyz
  API=http://127.0.0.1:18090/api/v1
  login() { curl -sf -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"$2\"}" $API/auth/login | jq -r .access_token; }
  OP=$(login op@bench.test "$PW")
  curl -sf -H "authorization: Bearer $OP" -H 'content-type: application/json' $API/tenants \
    -d "{\"name\":\"Bench\",\"slug\":\"bench\",\"admin\":{\"email\":\"admin@bench.test\",\"name\":\"A\",\"password\":\"$PW\"}}" >/dev/null
  ADM=$(login admin@bench.test "$PW")
  for i in $(seq 1 1000); do printf '{"name":"project %04d"}\n' "$i"; done \
    | xargs -d '\n' -P 8 -I{} curl -sf -o /dev/null -H "authorization: Bearer $ADM" -H 'content-type: application/json' -d {} $API/projects
  for conns in 64 200; do
    read -r a_rps a_p50 a_p99 < <(measure "$API/projects" $conns "$ADM")
    read -r h_rps h_p50 h_p99 < <(measure http://127.0.0.1:18091/ $conns)
    ratio=$(awk -v a="$a_rps" -v h="$h_rps" 'BEGIN { printf "%.2f", a/h }')
    printf '%-9s %-6s %12s %9s %9s %12s %9s %9s %7s\n' $engine $conns "$a_rps" "$a_p50" "$a_p99" "$h_rps" "$h_p50" "$h_p99" "$ratio"
  done
  kill $SERVER; wait $SERVER 2>/dev/null || true
done
echo "(latencies in ms; wrk -t2 on the same 2-core machine as the servers)"
