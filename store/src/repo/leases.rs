//! Named leases for singleton loops (e.g. the host monitor): held by one owner until they expire.

use crate::schema::leases::dsl as l;
use crate::time::to_db;
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// Take or renew lease `name` for `owner` until `until`; false when another owner holds it.
/// Safe inside a transaction on both engines (no statement is expected to fail).
pub fn acquire(
    conn: &mut DbConn,
    name: &str,
    owner: &str,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use diesel::sql_types::{Text, Timestamp};
    let inserted = match conn {
        DbConn::Pg(c) => diesel::sql_query("INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind::<Text, _>(name)
            .bind::<Text, _>(owner)
            .bind::<Timestamp, _>(to_db(until))
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::sql_query("INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
            .bind::<Text, _>(name)
            .bind::<Text, _>(owner)
            .bind::<Timestamp, _>(to_db(until))
            .execute(c)?,
    };
    if inserted > 0 {
        return Ok(true);
    }
    let n = diesel::update(
        l::leases
            .find(name)
            .filter(l::owner.eq(owner).or(l::expires_at.lt(to_db(at)))),
    )
    .set((l::owner.eq(owner), l::expires_at.eq(to_db(until))))
    .execute(conn)?;
    Ok(n > 0)
}

pub fn release(conn: &mut DbConn, name: &str, owner: &str) -> Result<(), StoreError> {
    diesel::delete(l::leases.find(name).filter(l::owner.eq(owner))).execute(conn)?;
    Ok(())
}
