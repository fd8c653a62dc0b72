//! PostgreSQL database administration for tests and benchmarks: a migrated template database per
//! schema version, cloned into a fresh database per test, dropped afterwards.

use crate::{PoolOptions, Store, StoreError, migrate};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// A fingerprint of the embedded migrations (changes whenever a migration file does).
pub const MIGRATIONS_FINGERPRINT: &str = env!("SCALEINFRA_MIGRATIONS_FINGERPRINT");

const TEMPLATE_LOCK_KEY: i64 = 0x5ca1_e1f0_0002;

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(StoreError::InvalidUrl {
            url: name.to_owned(),
            reason: "invalid database name",
        });
    }
    Ok(())
}

/// The URL of database `name` on the server of `admin_url` (whose path names the admin database).
pub fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

fn exists(conn: &mut PgConnection, name: &str) -> Result<bool, StoreError> {
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(conn)?;
    Ok(row.exists)
}

/// Make sure the migrated template for the current schema exists; returns its name. Safe to call from
/// many processes at once (an advisory lock serialises creation).
pub fn ensure_template(admin_url: &str) -> Result<String, StoreError> {
    let name = format!("scaleinfra_tpl_{MIGRATIONS_FINGERPRINT}");
    let mut admin = PgConnection::establish(admin_url).map_err(StoreError::Connect)?;
    admin.batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"))?;
    let result = (|| -> Result<(), StoreError> {
        if exists(&mut admin, &name)? {
            return Ok(());
        }
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let store = Store::open(
            &database_url(admin_url, &name),
            &PoolOptions {
                max_size: 1,
                ..PoolOptions::default()
            },
        )?;
        let migrated = migrate::run(&store);
        drop(store);
        if let Err(e) = migrated {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
            return Err(e);
        }
        Ok(())
    })();
    admin.batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"))?;
    result.map(|()| name)
}

/// Create database `name` as a copy of `template`.
pub fn create_from_template(
    admin_url: &str,
    name: &str,
    template: &str,
) -> Result<String, StoreError> {
    check_name(name)?;
    check_name(template)?;
    let mut admin = PgConnection::establish(admin_url).map_err(StoreError::Connect)?;
    admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))?;
    Ok(database_url(admin_url, name))
}

/// Drop database `name`, ending its connections.
pub fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let mut admin = PgConnection::establish(admin_url).map_err(StoreError::Connect)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            database_url("postgres://u:p@h:5432/postgres", "t1"),
            "postgres://u:p@h:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u@h/postgres?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert!(check_name("test_01ab").is_ok());
        assert!(check_name("bad;drop").is_err());
    }
}
