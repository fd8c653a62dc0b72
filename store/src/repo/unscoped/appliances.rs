//! Appliances read and written without a tenant (see [`super`]).

use crate::models_apps::{Appliance, ApplianceRow, Target};
use crate::repo::convert;
use crate::schema::appliances::dsl as ap;
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use common::{ApplianceId, ApplianceState, ApplicationId, HostId};
use diesel::prelude::*;

/// An appliance by id alone (the orchestrator and the agent endpoint, which has no tenant context).
pub fn get(conn: &mut DbConn, id: ApplianceId) -> Result<Option<Appliance>, StoreError> {
    ap::appliances
        .find(id.to_string())
        .select(ApplianceRow::as_select())
        .first(conn)
        .optional()?
        .map(Appliance::try_from)
        .transpose()
}

/// Several appliances by id, in one query (the orchestrator's batches).
pub fn get_many(conn: &mut DbConn, ids: &[ApplianceId]) -> Result<Vec<Appliance>, StoreError> {
    // in chunks: SQLite binds each id of `IN (…)` as a variable, and has a limit on them
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|i| i.to_string()).collect();
        found.extend(convert(
            ap::appliances
                .filter(ap::id.eq_any(chunk))
                .select(ApplianceRow::as_select())
                .load(conn)?,
        )?);
    }
    found.sort_by_key(|a: &Appliance| a.id);
    Ok(found)
}

/// Every appliance of an application that is not terminated (what the reconciler looks at).
pub fn of_application(conn: &mut DbConn, app: ApplicationId) -> Result<Vec<Appliance>, StoreError> {
    of_applications(conn, &[app])
}

/// [`of_application`] for several applications at once, in id order.
pub fn of_applications(
    conn: &mut DbConn,
    apps: &[ApplicationId],
) -> Result<Vec<Appliance>, StoreError> {
    let ids: Vec<String> = apps.iter().map(|i| i.to_string()).collect();
    convert(
        ap::appliances
            .filter(ap::application_id.eq_any(ids))
            .filter(ap::state.ne(ApplianceState::Terminated.as_str()))
            .select(ApplianceRow::as_select())
            .order(ap::id.asc())
            .load(conn)?,
    )
}

/// The appliances that hold resources on `host`, or were lost with it.
pub fn on_host(conn: &mut DbConn, host: HostId) -> Result<Vec<Appliance>, StoreError> {
    let mut states = crate::repo::hosts::holding();
    states.push(ApplianceState::Lost.as_str());
    convert(
        ap::appliances
            .filter(ap::host_id.eq(host.to_string()))
            .filter(ap::state.eq_any(states))
            .select(ApplianceRow::as_select())
            .order(ap::id.asc())
            .load(conn)?,
    )
}

/// Count of non-terminated appliances (the bench checks its fixture with it).
pub fn count_live(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(ap::appliances
        .filter(ap::state.ne(ApplianceState::Terminated.as_str()))
        .count()
        .get_result(conn)?)
}

/// Count of non-terminated appliances on the hosts of a pool (its network may change only when
/// none is left).
pub fn count_live_in_pool(conn: &mut DbConn, pool: common::PoolId) -> Result<i64, StoreError> {
    use crate::schema::hosts::dsl as h;
    let hosts = h::hosts
        .filter(h::pool_id.eq(pool.to_string()))
        .select(h::id);
    Ok(ap::appliances
        .filter(ap::state.ne(ApplianceState::Terminated.as_str()))
        .filter(ap::host_id.eq_any(hosts.nullable()))
        .count()
        .get_result(conn)?)
}

/// Appliances that are not terminated but whose application is gone (which the database refuses
/// since migration 5; the sweep reports any that an older version left). Provider-wide.
pub fn orphans(conn: &mut DbConn, limit: i64) -> Result<Vec<Appliance>, StoreError> {
    use crate::schema::applications::dsl as a;
    use diesel::dsl::{exists, not};
    convert(
        ap::appliances
            .filter(ap::state.ne(ApplianceState::Terminated.as_str()))
            .filter(not(exists(
                a::applications.filter(a::id.eq(ap::application_id)),
            )))
            .select(ApplianceRow::as_select())
            .order(ap::id.asc())
            .limit(limit)
            .load(conn)?,
    )
}

/// Record many heartbeats at once (the agent API's buffer, flushed every second or so): each
/// appliance's `last_heartbeat_at` moves forward to the given time (never back: another replica may
/// have recorded a later one). Returns the current state of each appliance found, so the caller
/// learns of terminations and failures. One statement per 500 appliances.
pub fn heartbeats(
    conn: &mut DbConn,
    beats: &[(ApplianceId, DateTime<Utc>)],
) -> Result<Vec<(ApplianceId, ApplianceState)>, StoreError> {
    use diesel::sql_types::{Text, Timestamp};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Text)]
        state: String,
    }
    let mut out = Vec::with_capacity(beats.len());
    for chunk in beats.chunks(500) {
        macro_rules! run {
            ($c:expr, $db:ty, $p:expr, $later:expr) => {{
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| {
                        format!(
                            "({}, {})",
                            $p(2 * i + 1, "text"),
                            $p(2 * i + 2, "timestamp")
                        )
                    })
                    .collect();
                let sql = format!(
                    "WITH v(id, at) AS (VALUES {}) \
                     UPDATE appliances SET last_heartbeat_at = CASE \
                       WHEN appliances.last_heartbeat_at IS NULL THEN v.at \
                       ELSE {} END \
                     FROM v WHERE appliances.id = v.id \
                     RETURNING appliances.id, appliances.state",
                    rows.join(", "),
                    $later
                );
                let mut q = diesel::sql_query(sql).into_boxed::<$db>();
                for (id, at) in chunk {
                    q = q
                        .bind::<Text, _>(id.to_string())
                        .bind::<Timestamp, _>(to_db(*at));
                }
                q.load::<Row>($c)?
            }};
        }
        let rows = match conn {
            DbConn::Pg(c) => run!(
                c,
                diesel::pg::Pg,
                |i: usize, ty: &str| format!("${i}::{ty}"),
                "GREATEST(appliances.last_heartbeat_at, v.at)"
            ),
            DbConn::Sqlite(c) => run!(
                c,
                diesel::sqlite::Sqlite,
                |_: usize, _: &str| "?".to_owned(),
                "MAX(appliances.last_heartbeat_at, v.at)"
            ),
        };
        for r in rows {
            out.push((
                crate::models::parse("appliance id", &r.id)?,
                crate::models::parse("appliance state", &r.state)?,
            ));
        }
    }
    Ok(out)
}

pub fn set_host(
    conn: &mut DbConn,
    id: ApplianceId,
    host: Option<HostId>,
) -> Result<(), StoreError> {
    diesel::update(ap::appliances.find(id.to_string()))
        .set((
            ap::host_id.eq(host.map(|h| h.to_string())),
            ap::updated_at.eq(to_db(now())),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_target(conn: &mut DbConn, id: ApplianceId, target: Target) -> Result<(), StoreError> {
    diesel::update(ap::appliances.find(id.to_string()))
        .set((
            ap::target.eq(target.as_str()),
            ap::updated_at.eq(to_db(now())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Record a heartbeat, and the address the agent reports unless the appliance holds one of its
/// pool's network (IPAM's address is the appliance's, whatever its guest claims).
pub fn heartbeat(
    conn: &mut DbConn,
    id: ApplianceId,
    at: DateTime<Utc>,
    ip: Option<&str>,
) -> Result<(), StoreError> {
    use crate::schema::ip_addresses::dsl as ipa;
    diesel::update(ap::appliances.find(id.to_string()))
        .set(ap::last_heartbeat_at.eq(Some(to_db(at))))
        .execute(conn)?;
    if let Some(ip) = ip {
        let held = ipa::ip_addresses.filter(ipa::appliance_id.eq(id.to_string()));
        diesel::update(
            ap::appliances
                .find(id.to_string())
                .filter(diesel::dsl::not(diesel::dsl::exists(held))),
        )
        .set(ap::ip.eq(ip))
        .execute(conn)?;
    }
    Ok(())
}
