#!/usr/bin/env bash
# Benchmark: agent traffic through the real /agent/v1 endpoints (20,000 running appliances, two
# heartbeats per metrics report) against `scaleinfra serve` without the orchestrator, on SQLite and on
# PostgreSQL, at 64 and 200 connections. Prints req/s, p50, p99. Goal (issue 7): >= 10,000 req/s with
# p99 <= 50 ms on PostgreSQL. Asserts nothing. DURATION (seconds) and APPLIANCES may be set.
. "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
need_cargo
native_build_deps
apt_install curl
PG_URL=$("$ROOT/scripts/pg.sh")
DURATION=${DURATION:-10}
APPLIANCES=${APPLIANCES:-20000}
log "building (release)"
cargo build --release --quiet -p scaleinfra-backend --bin scaleinfra -p scaleinfra-bench --bin agent-load
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_http() { for _ in $(seq 1 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

for engine in sqlite postgres; do
  for conns in 64 200; do
    if [ $engine = sqlite ]; then
      URL="sqlite://$WORK/agents-$conns.db"
    else
      as_root runuser -u postgres -- psql -q -c "DROP DATABASE IF EXISTS scaleinfra_agents WITH (FORCE)" -c "CREATE DATABASE scaleinfra_agents OWNER scaleinfra" >/dev/null
      base=${PG_URL%%\?*}
      URL="${base%/*}/scaleinfra_agents${PG_URL#"$base"}"
    fi
    SCALEINFRA_ADMIN_EMAIL=op@bench.test SCALEINFRA_ADMIN_PASSWORD='Bench-Operator-Quasar-42' SCALEINFRA_LOG_LEVEL=warn \
      SCALEINFRA_ORCHESTRATOR=false SCALEINFRA_SIM_HOSTS=0 \
      "$BIN/scaleinfra" serve --database-url "$URL" --bind 127.0.0.1:18095 >"$WORK/$engine-$conns.log" 2>&1 &
    SERVER=$!
    wait_http http://127.0.0.1:18095/readyz
    printf '%-10s ' "$engine"
    "$BIN/agent-load" "$URL" http://127.0.0.1:18095 "$APPLIANCES" "$conns" "$DURATION"
    kill $SERVER; wait $SERVER 2>/dev/null || true
  done
done
