//! Compute pools (provider-wide: operators manage them; no tenant owns a pool).

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_compute::{Pool, PoolRow};
use crate::schema::{compute_pools::dsl as p, hosts};
use crate::{DbConn, StoreError};
use common::PoolId;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, pool: &Pool) -> Result<(), StoreError> {
    diesel::insert_into(p::compute_pools)
        .values(PoolRow::from(pool))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: PoolId) -> Result<Option<Pool>, StoreError> {
    p::compute_pools
        .find(id.to_string())
        .select(PoolRow::as_select())
        .first(conn)
        .optional()?
        .map(Pool::try_from)
        .transpose()
}

pub fn list(conn: &mut DbConn, page: &PageRequest) -> Result<Page<Pool>, StoreError> {
    let base = p::compute_pools
        .select(PoolRow::as_select())
        .order(p::id.asc())
        .limit(fetch_limit(page.limit));
    let rows = match &page.after {
        None => base.load(conn)?,
        Some(a) => base.filter(p::id.gt(a.clone())).load(conn)?,
    };
    Ok(Page::from_rows(convert(rows)?, page.limit, |x: &Pool| {
        x.id.to_string()
    }))
}

/// Every pool (placement and the bench need them all).
pub fn all(conn: &mut DbConn) -> Result<Vec<Pool>, StoreError> {
    convert(
        p::compute_pools
            .select(PoolRow::as_select())
            .order(p::id.asc())
            .load(conn)?,
    )
}

pub fn save(conn: &mut DbConn, pool: &Pool) -> Result<bool, StoreError> {
    let n = diesel::update(p::compute_pools.find(pool.id.to_string()))
        .set(PoolRow::from(pool))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(n > 0)
}

pub fn host_count(conn: &mut DbConn, id: PoolId) -> Result<i64, StoreError> {
    Ok(hosts::table
        .filter(hosts::pool_id.eq(id.to_string()))
        .count()
        .get_result(conn)?)
}

pub fn delete(conn: &mut DbConn, id: PoolId) -> Result<bool, StoreError> {
    Ok(diesel::delete(p::compute_pools.find(id.to_string())).execute(conn)? > 0)
}
