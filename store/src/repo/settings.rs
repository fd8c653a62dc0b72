//! Installation-wide settings (e.g. the generated JWT signing key), shared by every replica.

use crate::schema::settings::dsl as s;
use crate::{DbConn, StoreError};
use diesel::prelude::*;

pub fn get(conn: &mut DbConn, key: &str) -> Result<Option<String>, StoreError> {
    Ok(s::settings
        .find(key)
        .select(s::value)
        .first(conn)
        .optional()?)
}

/// Store `value` under `key` unless a value is there already; return the value that is stored.
/// Two replicas racing both end up with the same value; safe inside a transaction.
pub fn get_or_insert(conn: &mut DbConn, key: &str, value: &str) -> Result<String, StoreError> {
    use diesel::sql_types::Text;
    match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(key)
        .bind::<Text, _>(value)
        .execute(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(key)
        .bind::<Text, _>(value)
        .execute(c)?,
    };
    get(conn, key)?.ok_or_else(|| StoreError::Corrupt(format!("setting {key} vanished")))
}
