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
        DbConn::Sqlite(c) => without_foreign_keys(c, |c| {
            c.run_pending_migrations(SQLITE)
                .map(|v| v.iter().map(|m| m.to_string()).collect())
        }),
    };
    applied.map_err(StoreError::Migration)
}

type MigrationResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Run SQLite migrations with foreign keys off, as SQLite's table-rebuild procedure requires (a
/// rebuilt parent table would otherwise cascade its children away); each migration still runs in
/// diesel's transaction with its version record. Every foreign key is checked before they are turned
/// back on: a violation fails the migration run.
fn without_foreign_keys<T>(
    c: &mut diesel::SqliteConnection,
    run: impl FnOnce(&mut diesel::SqliteConnection) -> MigrationResult<T>,
) -> MigrationResult<T> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Violation {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table: String,
    }
    c.batch_execute("PRAGMA foreign_keys = OFF")?;
    let out = run(c);
    let violations: Result<Vec<Violation>, _> =
        diesel::sql_query("PRAGMA foreign_key_check").load(c);
    c.batch_execute("PRAGMA foreign_keys = ON")?;
    let out = out?;
    let violations = violations?;
    if let Some(v) = violations.first() {
        return Err(format!(
            "{} rows break a foreign key after migrating (first in table {})",
            violations.len(),
            v.table
        )
        .into());
    }
    Ok(out)
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

/// Apply pending migrations up to and including the one whose version starts with `last` (upgrade
/// tests: a database as an older release left it). Returns the versions applied.
pub fn run_up_to(store: &Store, last: &str) -> Result<Vec<String>, StoreError> {
    fn step<C: MigrationHarness<B>, B: diesel::backend::Backend>(
        c: &mut C,
        set: EmbeddedMigrations,
        last: &str,
    ) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
        // versions as diesel keeps them: the folder's date and number without separators
        let digits = |v: &str| v.chars().filter(char::is_ascii_digit).collect::<String>();
        let last = digits(last);
        let mut pending = c.pending_migrations(set)?;
        pending.sort_by_key(|m| digits(&m.name().version().to_string()));
        let mut applied = Vec::new();
        for m in pending {
            let version = m.name().version().to_string();
            if digits(&version) > last {
                break;
            }
            c.run_migration(&*m)?;
            applied.push(version);
        }
        Ok(applied)
    }
    let mut conn = store.conn()?;
    let applied = match &mut *conn {
        DbConn::Pg(c) => step(c, POSTGRES, last),
        DbConn::Sqlite(c) => without_foreign_keys(c, |c| step(c, SQLITE, last)),
    };
    applied.map_err(StoreError::Migration)
}
