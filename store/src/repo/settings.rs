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
/// Two replicas racing both end up with the same value.
pub fn get_or_insert(conn: &mut DbConn, key: &str, value: &str) -> Result<String, StoreError> {
    if let Some(v) = get(conn, key)? {
        return Ok(v);
    }
    match diesel::insert_into(s::settings)
        .values((s::key.eq(key), s::value.eq(value)))
        .execute(conn)
    {
        Ok(_) => Ok(value.to_owned()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => get(conn, key)?.ok_or_else(|| StoreError::Corrupt(format!("setting {key} vanished"))),
        Err(e) => Err(e.into()),
    }
}
