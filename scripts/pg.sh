#!/usr/bin/env bash
# Install (if missing) and start PostgreSQL 15 on 127.0.0.1:5432 with a `scaleinfra` role that may
# create databases; prints the admin URL the tests use. Idempotent.
. "$(dirname "$0")/lib.sh"

apt_install postgresql-15 postgresql-client-15
if ! pg_lsclusters -h | awk '$1==15 && $2=="main"' | grep -q .; then
  log "creating PostgreSQL cluster 15/main"
  as_root pg_createcluster 15 main >&2
fi
if ! pg_lsclusters -h | awk '$1==15 && $2=="main" {print $4}' | grep -q online; then
  log "starting PostgreSQL 15/main"
  # stdout too goes to stderr: callers capture this script's stdout, which must be the URL alone
  # (pg_ctlcluster says "Removed stale pid file." after an unclean stop).
  as_root pg_ctlcluster 15 main start >&2
fi
for _ in $(seq 1 50); do
  as_root runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.2
done
as_root runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres <<'SQL' >/dev/null
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'scaleinfra') THEN
    CREATE ROLE scaleinfra LOGIN CREATEDB PASSWORD 'scaleinfra';
  END IF;
END $$;
SQL
# No TLS to the local server: nothing to protect on loopback, and a test process that exits while
# one of its connections is mid-handshake (the pool re-connecting after the test dropped its
# database) can crash in OpenSSL's exit-time cleanup ("double free or corruption").
echo "postgres://scaleinfra:scaleinfra@127.0.0.1:5432/postgres?sslmode=disable"
