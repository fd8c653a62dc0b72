//! Rotating refresh tokens, stored hashed. Looked up by hash before any tenant is known (the cookie is
//! the only input), so these functions are keyed by the token, its family or its user.

use crate::models::{RefreshToken, RefreshTokenRow};
use crate::schema::refresh_tokens::dsl as r;
use crate::time::to_db;
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use common::{SessionFamilyId, UserId};
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, token: &RefreshToken) -> Result<(), StoreError> {
    diesel::insert_into(r::refresh_tokens)
        .values(RefreshTokenRow::from(token))
        .execute(conn)?;
    Ok(())
}

pub fn by_hash(conn: &mut DbConn, hash: &str) -> Result<Option<RefreshToken>, StoreError> {
    r::refresh_tokens
        .filter(r::token_hash.eq(hash))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()?
        .map(RefreshToken::try_from)
        .transpose()
}

/// Mark a token used, only if it was neither used nor revoked yet: exactly one of two racing
/// refreshes wins, and none wins against a logout or a revocation that committed meanwhile.
pub fn mark_used(
    conn: &mut DbConn,
    token: &RefreshToken,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        r::refresh_tokens
            .find(token.id.to_string())
            .filter(r::used_at.is_null())
            .filter(r::revoked_at.is_null()),
    )
    .set(r::used_at.eq(Some(to_db(at))))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revoke every token of a login family (reuse detected, or logout).
pub fn revoke_family(
    conn: &mut DbConn,
    family: SessionFamilyId,
    at: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        r::refresh_tokens
            .filter(r::family_id.eq(family.to_string()))
            .filter(r::revoked_at.is_null()),
    )
    .set(r::revoked_at.eq(Some(to_db(at))))
    .execute(conn)?)
}

/// Revoke every token of a user (disabled, role changed, password changed).
pub fn revoke_user(
    conn: &mut DbConn,
    user: UserId,
    at: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        r::refresh_tokens
            .filter(r::user_id.eq(user.to_string()))
            .filter(r::revoked_at.is_null()),
    )
    .set(r::revoked_at.eq(Some(to_db(at))))
    .execute(conn)?)
}

/// Delete tokens that expired before `before` (housekeeping).
pub fn purge_expired(conn: &mut DbConn, before: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::delete(r::refresh_tokens.filter(r::expires_at.lt(to_db(before)))).execute(conn)?)
}

/// Move the start of the session of the token with `hash` (operators' tooling and tests of the
/// absolute lifetime).
pub fn set_session_start(
    conn: &mut DbConn,
    hash: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(t) = by_hash(conn, hash)? else {
        return Ok(false);
    };
    let n = diesel::update(r::refresh_tokens.filter(r::family_id.eq(t.family_id.to_string())))
        .set(r::session_started_at.eq(to_db(at)))
        .execute(conn)?;
    Ok(n > 0)
}
