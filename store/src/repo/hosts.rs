//! KVM hosts (provider-wide) and the resources their appliances hold.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_compute::{Host, HostRow};
use crate::schema::{appliances as ap, hosts::dsl as h};
use crate::{DbConn, StoreError};
use common::api::Usage;
use common::{ApplianceState, GroupId, HostId, PoolId};
use diesel::prelude::*;
use std::collections::HashMap;

/// States in which an appliance holds resources on its host.
pub const HOLDING: [ApplianceState; 6] = [
    ApplianceState::Creating,
    ApplianceState::Booting,
    ApplianceState::Configuring,
    ApplianceState::Running,
    ApplianceState::Stopping,
    ApplianceState::Stopped,
];

pub(crate) fn holding() -> Vec<&'static str> {
    HOLDING.iter().map(|s| s.as_str()).collect()
}

/// Serialise placements across orchestrators for the rest of the transaction (PostgreSQL advisory
/// transaction lock; SQLite's single writer already serialises them).
pub fn lock_placement(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Pg(c) = conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute("SELECT pg_advisory_xact_lock(6526891234001)")?;
    }
    Ok(())
}

pub fn insert(conn: &mut DbConn, host: &Host) -> Result<(), StoreError> {
    diesel::insert_into(h::hosts)
        .values(HostRow::from(host))
        .execute(conn)
        .map_err(|e| StoreError::unique_among(e, &["uri"], "name"))?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: HostId) -> Result<Option<Host>, StoreError> {
    h::hosts
        .find(id.to_string())
        .select(HostRow::as_select())
        .first(conn)
        .optional()?
        .map(Host::try_from)
        .transpose()
}

pub fn list_in_pool(
    conn: &mut DbConn,
    pool: PoolId,
    page: &PageRequest,
) -> Result<Page<Host>, StoreError> {
    let base = h::hosts
        .filter(h::pool_id.eq(pool.to_string()))
        .select(HostRow::as_select())
        .order(h::id.asc())
        .limit(fetch_limit(page.limit));
    let rows = match &page.after {
        None => base.load(conn)?,
        Some(a) => base.filter(h::id.gt(a.clone())).load(conn)?,
    };
    Ok(Page::from_rows(convert(rows)?, page.limit, |x: &Host| {
        x.id.to_string()
    }))
}

/// Every host (placement and monitoring).
pub fn all(conn: &mut DbConn) -> Result<Vec<Host>, StoreError> {
    convert(
        h::hosts
            .select(HostRow::as_select())
            .order(h::id.asc())
            .load(conn)?,
    )
}

/// Record a liveness check: state, missed checks and (when given) when the host was last seen —
/// no other column.
pub fn record_check(
    conn: &mut DbConn,
    id: HostId,
    state: common::HostState,
    missed: u32,
    seen: Option<chrono::DateTime<chrono::Utc>>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let target = h::hosts.find(id.to_string());
    let missed = i32::try_from(missed).unwrap_or(i32::MAX);
    let n = match seen {
        Some(t) => diesel::update(target)
            .set((
                h::state.eq(state.as_str()),
                h::missed_checks.eq(missed),
                h::last_seen_at.eq(Some(crate::time::to_db(t))),
                h::updated_at.eq(crate::time::to_db(at)),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                h::state.eq(state.as_str()),
                h::missed_checks.eq(missed),
                h::updated_at.eq(crate::time::to_db(at)),
            ))
            .execute(conn)?,
    };
    Ok(n > 0)
}

/// Store a host the caller read under its row lock (see `locks`).
pub fn save(conn: &mut DbConn, host: &Host) -> Result<bool, StoreError> {
    Ok(diesel::update(h::hosts.find(host.id.to_string()))
        .set(HostRow::from(host))
        .execute(conn)?
        > 0)
}

pub fn delete(conn: &mut DbConn, id: HostId) -> Result<bool, StoreError> {
    Ok(diesel::delete(h::hosts.find(id.to_string())).execute(conn)? > 0)
}

/// Resources held on each host by appliances in holding states, and their count.
pub fn usage(conn: &mut DbConn) -> Result<HashMap<HostId, (Usage, u32)>, StoreError> {
    use diesel::dsl::{count_star, sum};
    /// host, Σ vCPUs, Σ memory, Σ disk, count
    type UsageRow = (Option<String>, Option<i64>, Option<i64>, Option<i64>, i64);
    let rows: Vec<UsageRow> = ap::table
        .filter(ap::host_id.is_not_null())
        .filter(ap::state.eq_any(holding()))
        .group_by(ap::host_id)
        .select((
            ap::host_id,
            sum(ap::vcpus),
            sum(ap::memory_mib),
            sum(ap::disk_gib),
            count_star(),
        ))
        .load(conn)?;
    let n = |v: Option<i64>| u32::try_from(v.unwrap_or(0)).unwrap_or(u32::MAX);
    let mut out = HashMap::with_capacity(rows.len());
    for (host, vcpus, mem, disk, count) in rows {
        let Some(host) = host else { continue };
        let usage = Usage {
            vcpus: n(vcpus),
            memory_mib: n(mem),
            disk_gib: n(disk),
        };
        out.insert(
            crate::models::parse("host id", &host)?,
            (usage, n(Some(count))),
        );
    }
    Ok(out)
}

/// Several hosts by id, in one query.
pub fn get_many(conn: &mut DbConn, ids: &[HostId]) -> Result<Vec<Host>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    convert(
        h::hosts
            .filter(h::id.eq_any(ids))
            .select(HostRow::as_select())
            .load(conn)?,
    )
}

/// How many appliances of `group` hold resources on each host (for anti-affinity).
pub fn group_spread(conn: &mut DbConn, group: GroupId) -> Result<HashMap<HostId, u32>, StoreError> {
    let rows: Vec<Option<String>> = ap::table
        .filter(ap::group_id.eq(group.to_string()))
        .filter(ap::host_id.is_not_null())
        .filter(ap::state.eq_any(holding()))
        .select(ap::host_id)
        .load(conn)?;
    let mut out = HashMap::new();
    for host in rows.into_iter().flatten() {
        *out.entry(crate::models::parse("host id", &host)?)
            .or_insert(0) += 1;
    }
    Ok(out)
}
