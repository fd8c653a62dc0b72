//! Embedded migrations, one set per engine, applied by `scaleinfra migrate` and at `serve` start.

use crate::{DbConn, Store, StoreError};
use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// A fixed key for the PostgreSQL advisory lock that serialises concurrent migrators.
const MIGRATION_LOCK_KEY: i64 = 0x5ca1_e1f0_0001;

/// Apply pending migrations; returns the versions applied. Safe to run from several processes at once
/// on PostgreSQL (an advisory lock serialises them).
pub fn run(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut conn = store.conn()?;
    let applied = match &mut *conn {
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let r = c
                .run_pending_migrations(POSTGRES)
                .map(|v| v.iter().map(|m| m.to_string()).collect());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            r
        }
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE)
            .map(|v| v.iter().map(|m| m.to_string()).collect()),
    };
    applied.map_err(StoreError::Migration)
}

/// Whether migrations are pending (for `/readyz`-style checks and the CLI).
pub fn pending(store: &Store) -> Result<usize, StoreError> {
    let mut conn = store.conn()?;
    let n = match &mut *conn {
        DbConn::Pg(c) => c.pending_migrations(POSTGRES).map(|v| v.len()),
        DbConn::Sqlite(c) => c.pending_migrations(SQLITE).map(|v| v.len()),
    };
    n.map_err(StoreError::Migration)
}
