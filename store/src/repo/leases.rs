//! Named leases for singleton loops (e.g. the host monitor): held by one owner until they expire.

use crate::schema::leases::dsl as l;
use crate::time::to_db;
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// Take or renew lease `name` for `owner` until `until`; false when another owner holds it.
pub fn acquire(
    conn: &mut DbConn,
    name: &str,
    owner: &str,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        l::leases
            .find(name)
            .filter(l::owner.eq(owner).or(l::expires_at.lt(to_db(at)))),
    )
    .set((l::owner.eq(owner), l::expires_at.eq(to_db(until))))
    .execute(conn)?;
    if n > 0 {
        return Ok(true);
    }
    match diesel::insert_into(l::leases)
        .values((
            l::name.eq(name),
            l::owner.eq(owner),
            l::expires_at.eq(to_db(until)),
        ))
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn release(conn: &mut DbConn, name: &str, owner: &str) -> Result<(), StoreError> {
    diesel::delete(l::leases.find(name).filter(l::owner.eq(owner))).execute(conn)?;
    Ok(())
}
