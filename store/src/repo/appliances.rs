//! Appliances and their transitions. Every state change goes through [`transition`], which checks the
//! state machine, applies it only if nobody moved the appliance first, and stores the transition in the
//! same transaction — billing meters from those rows.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_apps::{AppTransition, Appliance, ApplianceRow, Transition, TransitionRow};
use crate::schema::{appliance_events::dsl as e, appliances::dsl as ap};
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use common::{ApplianceId, ApplianceState, ApplicationId, HostId, TenantId};
use diesel::prelude::*;

fn record(
    conn: &mut DbConn,
    a: &Appliance,
    from: Option<ApplianceState>,
    reason: &str,
) -> Result<(), StoreError> {
    diesel::insert_into(e::appliance_events)
        .values(transition_row(a, from, a.state, reason, a.state_since))
        .execute(conn)?;
    Ok(())
}

/// Insert a new appliance (its first transition, `→ pending`, is recorded too).
pub fn insert(conn: &mut DbConn, a: &Appliance) -> Result<(), StoreError> {
    diesel::insert_into(ap::appliances)
        .values(ApplianceRow::from(a))
        .execute(conn)
        .map_err(StoreError::orphan_guard)?;
    record(conn, a, None, &a.state_reason)
}

/// Move `a` to `to`. Refuses illegal transitions; fails with `Stale` if the stored state is no longer
/// `a.state`. Returns the appliance as stored.
pub fn transition(
    conn: &mut DbConn,
    a: &Appliance,
    to: ApplianceState,
    reason: &str,
) -> Result<Appliance, StoreError> {
    if !a.state.can_become(to) {
        return Err(StoreError::IllegalTransition { from: a.state, to });
    }
    let at = now();
    let n = diesel::update(
        ap::appliances
            .find(a.id.to_string())
            .filter(ap::state.eq(a.state.as_str())),
    )
    .set((
        ap::state.eq(to.as_str()),
        ap::state_reason.eq(reason),
        ap::state_since.eq(to_db(at)),
        ap::updated_at.eq(to_db(at)),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::Stale);
    }
    if to == ApplianceState::Terminated {
        super::ipam::release(conn, &[a.id])?;
    }
    let mut moved = a.clone();
    moved.state = to;
    moved.state_reason = reason.to_owned();
    moved.state_since = at;
    moved.updated_at = at;
    record(conn, &moved, Some(a.state), reason)?;
    Ok(moved)
}

pub fn get(
    conn: &mut DbConn,
    tenant: TenantId,
    id: ApplianceId,
) -> Result<Option<Appliance>, StoreError> {
    ap::appliances
        .filter(ap::tenant_id.eq(tenant.to_string()))
        .filter(ap::id.eq(id.to_string()))
        .select(ApplianceRow::as_select())
        .first(conn)
        .optional()?
        .map(Appliance::try_from)
        .transpose()
}

/// The appliances of an application, newest last; terminated ones only if `with_terminated`.
pub fn list_for_app(
    conn: &mut DbConn,
    tenant: TenantId,
    app: ApplicationId,
    with_terminated: bool,
    page: &PageRequest,
) -> Result<Page<Appliance>, StoreError> {
    let mut q = ap::appliances
        .filter(ap::tenant_id.eq(tenant.to_string()))
        .filter(ap::application_id.eq(app.to_string()))
        .select(ApplianceRow::as_select())
        .order(ap::id.asc())
        .limit(fetch_limit(page.limit))
        .into_boxed();
    if !with_terminated {
        q = q.filter(ap::state.ne(ApplianceState::Terminated.as_str()));
    }
    if let Some(after) = &page.after {
        q = q.filter(ap::id.gt(after.clone()));
    }
    Ok(Page::from_rows(
        convert(q.load(conn)?)?,
        page.limit,
        |x: &Appliance| x.id.to_string(),
    ))
}

/// The stored transitions of one appliance, oldest first.
pub fn transitions(
    conn: &mut DbConn,
    tenant: TenantId,
    id: ApplianceId,
    page: &PageRequest,
) -> Result<Page<Transition>, StoreError> {
    let base = e::appliance_events
        .filter(e::tenant_id.eq(tenant.to_string()))
        .filter(e::appliance_id.eq(id.to_string()))
        .select(TransitionRow::as_select())
        .order(e::id.asc())
        .limit(fetch_limit(page.limit));
    let rows: Vec<TransitionRow> = match &page.after {
        None => base.load(conn)?,
        Some(a) => base.filter(e::id.gt(a.clone())).load(conn)?,
    };
    let page = Page::from_rows(rows, page.limit, |r: &TransitionRow| r.id.clone());
    Ok(Page {
        items: convert(page.items)?,
        next_after: page.next_after,
    })
}

/// Up to `limit` transitions of one of a tenant's applications with ids after `after`, in id order.
pub fn transitions_of_application(
    conn: &mut DbConn,
    tenant: TenantId,
    app: ApplicationId,
    after: &str,
    limit: i64,
) -> Result<Vec<AppTransition>, StoreError> {
    convert(
        e::appliance_events
            .filter(e::application_id.eq(app.to_string()))
            .filter(e::tenant_id.eq(tenant.to_string()))
            .filter(e::id.gt(after))
            .select(TransitionRow::as_select())
            .order(e::id.asc())
            .limit(limit)
            .load(conn)?,
    )
}

/// All transitions of a tenant's appliances in `[from, to)` (billing meters from these).
pub fn transitions_between(
    conn: &mut DbConn,
    tenant: TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Transition>, StoreError> {
    convert(
        e::appliance_events
            .filter(e::tenant_id.eq(tenant.to_string()))
            .filter(e::at.ge(to_db(from)))
            .filter(e::at.lt(to_db(to)))
            .select(TransitionRow::as_select())
            .order(e::id.asc())
            .load(conn)?,
    )
}

/// What keeps a project (`Some`) or a whole tenant from being deleted: its deployed applications,
/// and its appliances that are not terminated.
pub fn live_count(
    conn: &mut DbConn,
    tenant: TenantId,
    project: Option<common::ProjectId>,
) -> Result<(i64, i64), StoreError> {
    use crate::schema::applications::dsl as a;
    let mut deployed = a::applications
        .filter(a::tenant_id.eq(tenant.to_string()))
        .filter(a::deployed.eq(true))
        .count()
        .into_boxed();
    if let Some(p) = project {
        deployed = deployed.filter(a::project_id.eq(p.to_string()));
    }
    let live = match project {
        // a project's: through its applications
        Some(p) => ap::appliances
            .inner_join(a::applications.on(a::id.eq(ap::application_id)))
            .filter(ap::tenant_id.eq(tenant.to_string()))
            .filter(a::project_id.eq(p.to_string()))
            .filter(ap::state.ne(ApplianceState::Terminated.as_str()))
            .count()
            .get_result(conn)?,
        // a tenant's: every one, orphans an older version left included
        None => ap::appliances
            .filter(ap::tenant_id.eq(tenant.to_string()))
            .filter(ap::state.ne(ApplianceState::Terminated.as_str()))
            .count()
            .get_result(conn)?,
    };
    Ok((deployed.get_result(conn)?, live))
}

/// Insert rows of `table`: on PostgreSQL in multi-row statements of 200, on SQLite (in-process,
/// where a statement costs no round trip) one by one — diesel's SQLite batch insert opens a
/// transaction of its own, which cannot nest in ours.
macro_rules! insert_batched {
    ($conn:expr, $table:expr, $rows:expr) => {{
        match &mut *$conn {
            DbConn::Pg(c) => {
                for chunk in $rows.chunks(200) {
                    diesel::insert_into($table)
                        .values(chunk)
                        .execute(c)
                        .map_err(StoreError::orphan_guard)?;
                }
            }
            DbConn::Sqlite(c) => {
                for row in $rows.iter() {
                    diesel::insert_into($table)
                        .values(row)
                        .execute(c)
                        .map_err(StoreError::orphan_guard)?;
                }
            }
        }
    }};
}

/// Insert many new appliances with their first transitions (`→ pending`), a few statements for all.
pub fn insert_many(conn: &mut DbConn, new: &[Appliance]) -> Result<(), StoreError> {
    let rows: Vec<ApplianceRow> = new.iter().map(ApplianceRow::from).collect();
    insert_batched!(conn, ap::appliances, rows);
    let events: Vec<TransitionRow> = new
        .iter()
        .map(|a| transition_row(a, None, a.state, &a.state_reason, a.state_since))
        .collect();
    insert_batched!(conn, e::appliance_events, events);
    Ok(())
}

fn transition_row(
    a: &Appliance,
    from: Option<ApplianceState>,
    to: ApplianceState,
    reason: &str,
    at: DateTime<Utc>,
) -> TransitionRow {
    TransitionRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: a.tenant_id.to_string(),
        appliance_id: a.id.to_string(),
        application_id: a.application_id.to_string(),
        from_state: from.map(|s| s.as_str().to_owned()),
        to_state: to.as_str().to_owned(),
        reason: reason.to_owned(),
        at: to_db(at),
    }
}

/// One appliance to move in [`move_many`]: from the state it was read in to `to`, on `host` when
/// given (else it stays where it is), for `reason`.
#[derive(Clone, Debug)]
pub struct Move {
    pub appliance: Appliance,
    pub to: ApplianceState,
    pub host: Option<HostId>,
    pub reason: String,
}

/// Move many appliances at once, each only if it is still in the state it was read in (a concurrent
/// move wins: that appliance is left out), with its transition recorded — a few statements for all,
/// where [`transition`] takes two per appliance. Illegal moves are refused before anything is
/// written. Returns the appliances moved.
pub fn move_many(
    conn: &mut DbConn,
    moves: &[Move],
) -> Result<std::collections::HashSet<ApplianceId>, StoreError> {
    if let Some(m) = moves.iter().find(|m| !m.appliance.state.can_become(m.to)) {
        return Err(StoreError::IllegalTransition {
            from: m.appliance.state,
            to: m.to,
        });
    }
    let at = now();
    let mut moved_ids = std::collections::HashSet::with_capacity(moves.len());
    for chunk in moves.chunks(200) {
        let moved = update_states(conn, chunk, at)?;
        let mut events = Vec::with_capacity(moved.len());
        let mut terminated = Vec::new();
        for m in chunk
            .iter()
            .filter(|m| moved.contains(&m.appliance.id.to_string()))
        {
            if m.to == ApplianceState::Terminated {
                terminated.push(m.appliance.id);
            }
            events.push(transition_row(
                &m.appliance,
                Some(m.appliance.state),
                m.to,
                &m.reason,
                at,
            ));
            moved_ids.insert(m.appliance.id);
        }
        insert_batched!(conn, e::appliance_events, events);
        // a terminated appliance's address goes back to its pool in the same transaction
        super::ipam::release(conn, &terminated)?;
    }
    Ok(moved_ids)
}

/// One `UPDATE … FROM (VALUES …)` for a chunk of moves; the ids it changed.
fn update_states(
    conn: &mut DbConn,
    chunk: &[Move],
    at: DateTime<Utc>,
) -> Result<std::collections::HashSet<String>, StoreError> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        id: String,
    }
    const COLUMNS: usize = 5;
    macro_rules! run {
        ($c:expr, $db:ty, $p:expr) => {{
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let cols: Vec<String> = (1..=COLUMNS).map(|k| $p(COLUMNS * i + k)).collect();
                    format!("({})", cols.join(", "))
                })
                .collect();
            let n = COLUMNS * chunk.len();
            let sql = format!(
                "WITH v(id, from_state, to_state, host, reason) AS (VALUES {}) \
                 UPDATE appliances SET state = v.to_state, \
                   host_id = COALESCE(v.host, appliances.host_id), \
                   state_reason = v.reason, state_since = {}, updated_at = {} \
                 FROM v WHERE appliances.id = v.id AND appliances.state = v.from_state \
                 RETURNING appliances.id",
                rows.join(", "),
                $p(n + 1),
                $p(n + 2)
            );
            let mut q = diesel::sql_query(sql).into_boxed::<$db>();
            for m in chunk {
                q = q
                    .bind::<Text, _>(m.appliance.id.to_string())
                    .bind::<Text, _>(m.appliance.state.as_str())
                    .bind::<Text, _>(m.to.as_str())
                    .bind::<Nullable<Text>, _>(m.host.map(|h| h.to_string()))
                    .bind::<Text, _>(m.reason.clone());
            }
            q.bind::<Timestamp, _>(to_db(at))
                .bind::<Timestamp, _>(to_db(at))
                .load::<Row>($c)?
        }};
    }
    // PostgreSQL types a VALUES list by its first row: every parameter says its type
    let values = COLUMNS * chunk.len();
    let rows = match &mut *conn {
        DbConn::Pg(c) => run!(c, diesel::pg::Pg, |i: usize| {
            let ty = if i > values { "timestamp" } else { "text" };
            format!("${i}::{ty}")
        }),
        DbConn::Sqlite(c) => run!(c, diesel::sqlite::Sqlite, |_: usize| "?".to_owned()),
    };
    Ok(rows.into_iter().map(|r| r.id).collect())
}
