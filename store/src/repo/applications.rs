//! Applications, their layers and groups; and the reconcile queue: due applications are claimed with a
//! lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two orchestrators never reconcile the same one.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_apps::{Application, ApplicationRow, Group, GroupRow, Layer, LayerRow};
use crate::schema::{appliance_groups::dsl as g, applications::dsl as a, layers::dsl as l};
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use common::{ApplicationId, GroupId, LayerId, ProjectId, TenantId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

// ---------------------------------------------------------------- applications

pub fn insert(conn: &mut DbConn, tenant: TenantId, app: &Application) -> Result<(), StoreError> {
    let at = to_db(app.created_at);
    diesel::insert_into(a::applications)
        .values(ApplicationRow {
            id: app.id.to_string(),
            tenant_id: tenant.to_string(),
            project_id: app.project_id.to_string(),
            name: app.name.clone(),
            description: app.description.clone(),
            pool_id: app.pool_id.map(|p| p.to_string()),
            deployed: app.deployed,
            generation: app.generation,
            reconcile_after: at,
            lease_owner: None,
            lease_expires_at: None,
            failures: 0,
            last_error: None,
            created_at: at,
            updated_at: to_db(app.updated_at),
        })
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(())
}

pub fn get(
    conn: &mut DbConn,
    tenant: TenantId,
    id: ApplicationId,
) -> Result<Option<Application>, StoreError> {
    a::applications
        .filter(a::tenant_id.eq(tenant.to_string()))
        .filter(a::id.eq(id.to_string()))
        .select(ApplicationRow::as_select())
        .first(conn)
        .optional()?
        .map(Application::try_from)
        .transpose()
}

/// An application by id alone: for the orchestrator, which works for every tenant.
pub fn get_any(conn: &mut DbConn, id: ApplicationId) -> Result<Option<Application>, StoreError> {
    a::applications
        .find(id.to_string())
        .select(ApplicationRow::as_select())
        .first(conn)
        .optional()?
        .map(Application::try_from)
        .transpose()
}

/// The applications of `ids` that exist, whatever their tenant (the orchestrator's batched load).
pub fn get_many_any(
    conn: &mut DbConn,
    ids: &[ApplicationId],
) -> Result<Vec<Application>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    convert(
        a::applications
            .filter(a::id.eq_any(ids))
            .select(ApplicationRow::as_select())
            .load(conn)?,
    )
}

pub fn list_in_project(
    conn: &mut DbConn,
    tenant: TenantId,
    project: ProjectId,
    page: &PageRequest,
) -> Result<Page<Application>, StoreError> {
    let base = a::applications
        .filter(a::tenant_id.eq(tenant.to_string()))
        .filter(a::project_id.eq(project.to_string()))
        .select(ApplicationRow::as_select())
        .order(a::id.asc())
        .limit(fetch_limit(page.limit));
    let rows = match &page.after {
        None => base.load(conn)?,
        Some(x) => base.filter(a::id.gt(x.clone())).load(conn)?,
    };
    Ok(Page::from_rows(
        convert(rows)?,
        page.limit,
        |x: &Application| x.id.to_string(),
    ))
}

/// Every deployed application of `tenant` (quota accounting).
pub fn deployed_of_tenant(
    conn: &mut DbConn,
    tenant: TenantId,
) -> Result<Vec<ApplicationId>, StoreError> {
    let ids: Vec<String> = a::applications
        .filter(a::tenant_id.eq(tenant.to_string()))
        .filter(a::deployed.eq(true))
        .select(a::id)
        .load(conn)?;
    ids.iter()
        .map(|s| crate::models::parse("application id", s))
        .collect()
}

/// Rename, describe or (un)deploy; marks the application for reconcile.
pub fn save(conn: &mut DbConn, tenant: TenantId, app: &Application) -> Result<bool, StoreError> {
    let n = diesel::update(
        a::applications
            .filter(a::tenant_id.eq(tenant.to_string()))
            .filter(a::id.eq(app.id.to_string())),
    )
    .set((
        a::name.eq(&app.name),
        a::description.eq(&app.description),
        a::deployed.eq(app.deployed),
        a::updated_at.eq(to_db(app.updated_at)),
        a::generation.eq(a::generation + 1),
        a::reconcile_after.eq(to_db(now())),
    ))
    .execute(conn)
    .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(n > 0)
}

pub fn delete(conn: &mut DbConn, tenant: TenantId, id: ApplicationId) -> Result<bool, StoreError> {
    let n = diesel::delete(
        a::applications
            .filter(a::tenant_id.eq(tenant.to_string()))
            .filter(a::id.eq(id.to_string())),
    )
    .execute(conn)
    .map_err(StoreError::orphan_guard)?;
    Ok(n > 0)
}

/// Mark an application for reconcile now (a change its orchestrator must act on).
pub fn touch(conn: &mut DbConn, id: ApplicationId) -> Result<(), StoreError> {
    diesel::update(a::applications.find(id.to_string()))
        .set((
            a::generation.eq(a::generation + 1),
            a::reconcile_after.eq(to_db(now())),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    generation: i64,
}

/// A claimed application: its id and the generation seen when it was claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub id: ApplicationId,
    pub generation: i64,
}

/// Claim up to `limit` applications that are due and not leased by another orchestrator.
pub fn claim_due(
    conn: &mut DbConn,
    owner: &str,
    at: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claim>, StoreError> {
    let rows: Vec<ClaimedRow> = match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "UPDATE applications SET lease_owner = $1, lease_expires_at = $2 \
             WHERE id IN (SELECT id FROM applications WHERE reconcile_after <= $3 \
               AND (lease_owner IS NULL OR lease_expires_at < $3) \
               ORDER BY reconcile_after LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, generation",
        )
        .bind::<Text, _>(owner)
        .bind::<Timestamp, _>(to_db(lease_until))
        .bind::<Timestamp, _>(to_db(at))
        .bind::<BigInt, _>(limit)
        .load(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(
            "UPDATE applications SET lease_owner = ?, lease_expires_at = ? \
             WHERE id IN (SELECT id FROM applications WHERE reconcile_after <= ? \
               AND (lease_owner IS NULL OR lease_expires_at < ?) \
               ORDER BY reconcile_after LIMIT ?) \
             RETURNING id, generation",
        )
        .bind::<Text, _>(owner)
        .bind::<Timestamp, _>(to_db(lease_until))
        .bind::<Timestamp, _>(to_db(at))
        .bind::<Timestamp, _>(to_db(at))
        .bind::<BigInt, _>(limit)
        .load(c)?,
    };
    rows.into_iter()
        .map(|r| {
            Ok(Claim {
                id: crate::models::parse("application id", &r.id)?,
                generation: r.generation,
            })
        })
        .collect()
}

/// An application's lease holder and its end (`None`: not claimed).
pub type Lease = (Option<String>, Option<DateTime<Utc>>);

/// Who holds an application's lease, and until when (operators' diagnostics and tests).
pub fn lease_of(conn: &mut DbConn, id: ApplicationId) -> Result<Option<Lease>, StoreError> {
    let row: Option<(Option<String>, Option<crate::time::Ts>)> = a::applications
        .find(id.to_string())
        .select((a::lease_owner, a::lease_expires_at))
        .first(conn)
        .optional()?;
    Ok(row.map(|(owner, until)| (owner, until.map(crate::time::from_db))))
}

/// Extend `owner`'s leases of `ids` to `until`; returns the ids still held (a lease that lapsed and
/// was taken by another orchestrator is not renewed).
pub fn renew(
    conn: &mut DbConn,
    owner: &str,
    ids: &[ApplicationId],
    until: DateTime<Utc>,
) -> Result<Vec<ApplicationId>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|x| x.to_string()).collect();
    let mut held = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let renewed: Vec<String> = diesel::update(
            a::applications
                .filter(a::id.eq_any(chunk))
                .filter(a::lease_owner.eq(owner)),
        )
        .set(a::lease_expires_at.eq(Some(to_db(until))))
        .returning(a::id)
        .get_results(conn)?;
        for id in renewed {
            held.push(crate::models::parse("application id", &id)?);
        }
    }
    Ok(held)
}

/// A claim given back: the application is due again at `next` (at once if it changed meanwhile);
/// `error` records a failed pass and counts toward backoff, `None` resets the failure count.
#[derive(Clone, Debug)]
pub struct Release {
    pub claim: Claim,
    pub next: DateTime<Utc>,
    pub error: Option<String>,
}

/// Give back the claims `owner` still holds, one statement for up to 500 of them. A claim whose lease
/// was lost meanwhile (it lapsed and another orchestrator took the application) is left to the new
/// owner.
pub fn release_all(conn: &mut DbConn, owner: &str, released: &[Release]) -> Result<(), StoreError> {
    use diesel::sql_types::Nullable;
    let at = to_db(now());
    for chunk in released.chunks(500) {
        macro_rules! run {
            ($c:expr, $db:ty, $p:expr) => {{
                let mut q = diesel::sql_query(release_sql(chunk.len(), $p)).into_boxed::<$db>();
                for r in chunk {
                    q = q
                        .bind::<Text, _>(r.claim.id.to_string())
                        .bind::<BigInt, _>(r.claim.generation)
                        .bind::<Timestamp, _>(to_db(r.next))
                        .bind::<Nullable<Text>, _>(r.error.clone());
                }
                q.bind::<Timestamp, _>(at)
                    .bind::<Text, _>(owner.to_owned())
                    .execute($c)?
            }};
        }
        match conn {
            DbConn::Pg(c) => run!(c, diesel::pg::Pg, |i| format!("${i}")),
            DbConn::Sqlite(c) => run!(c, diesel::sqlite::Sqlite, |_| "?".to_owned()),
        };
    }
    Ok(())
}

/// The statement of [`release_all`] for `n` claims, with placeholders written by `p(1..)`.
fn release_sql(n: usize, p: impl Fn(usize) -> String) -> String {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let k = i * 4;
            format!("({}, {}, {}, {})", p(k + 1), p(k + 2), p(k + 3), p(k + 4))
        })
        .collect();
    format!(
        "WITH v(id, gen, next_at, err) AS (VALUES {}) \
         UPDATE applications SET lease_owner = NULL, lease_expires_at = NULL, \
           reconcile_after = CASE WHEN applications.generation = v.gen THEN v.next_at ELSE {} END, \
           failures = CASE WHEN v.err IS NULL THEN 0 ELSE applications.failures + 1 END, \
           last_error = v.err \
         FROM v WHERE applications.id = v.id AND applications.lease_owner = {}",
        rows.join(", "),
        p(n * 4 + 1),
        p(n * 4 + 2)
    )
}

/// Every deployed application's id (the periodic resync).
pub fn all_deployed(conn: &mut DbConn) -> Result<Vec<ApplicationId>, StoreError> {
    let ids: Vec<String> = a::applications
        .filter(a::deployed.eq(true))
        .select(a::id)
        .load(conn)?;
    ids.iter()
        .map(|s| crate::models::parse("application id", s))
        .collect()
}

// ---------------------------------------------------------------- layers

pub fn insert_layer(conn: &mut DbConn, tenant: TenantId, layer: &Layer) -> Result<(), StoreError> {
    let mut row = LayerRow::from(layer);
    row.tenant_id = tenant.to_string();
    diesel::insert_into(l::layers)
        .values(row)
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(())
}

pub fn layers(
    conn: &mut DbConn,
    tenant: TenantId,
    app: ApplicationId,
) -> Result<Vec<Layer>, StoreError> {
    convert(
        l::layers
            .filter(l::tenant_id.eq(tenant.to_string()))
            .filter(l::application_id.eq(app.to_string()))
            .select(LayerRow::as_select())
            .order((l::position.asc(), l::id.asc()))
            .load(conn)?,
    )
}

pub fn get_layer(
    conn: &mut DbConn,
    tenant: TenantId,
    id: LayerId,
) -> Result<Option<Layer>, StoreError> {
    l::layers
        .filter(l::tenant_id.eq(tenant.to_string()))
        .filter(l::id.eq(id.to_string()))
        .select(LayerRow::as_select())
        .first(conn)
        .optional()?
        .map(Layer::try_from)
        .transpose()
}

/// Store the names and positions of an application's layers (after a reorder).
pub fn save_layers(
    conn: &mut DbConn,
    tenant: TenantId,
    layers: &[Layer],
) -> Result<(), StoreError> {
    // two passes so the unique names never collide mid-way
    for layer in layers {
        diesel::update(
            l::layers
                .filter(l::tenant_id.eq(tenant.to_string()))
                .filter(l::id.eq(layer.id.to_string())),
        )
        .set((
            l::position.eq(i32::try_from(layer.position).unwrap_or(i32::MAX)),
            l::name.eq(format!("\u{1}{}", layer.id)),
        ))
        .execute(conn)?;
    }
    for layer in layers {
        diesel::update(
            l::layers
                .filter(l::tenant_id.eq(tenant.to_string()))
                .filter(l::id.eq(layer.id.to_string())),
        )
        .set(l::name.eq(&layer.name))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    }
    Ok(())
}

pub fn delete_layer(conn: &mut DbConn, tenant: TenantId, id: LayerId) -> Result<bool, StoreError> {
    let n = diesel::delete(
        l::layers
            .filter(l::tenant_id.eq(tenant.to_string()))
            .filter(l::id.eq(id.to_string())),
    )
    .execute(conn)?;
    Ok(n > 0)
}

// ---------------------------------------------------------------- groups

pub fn insert_group(conn: &mut DbConn, tenant: TenantId, group: &Group) -> Result<(), StoreError> {
    let mut row = GroupRow::from(group);
    row.tenant_id = tenant.to_string();
    diesel::insert_into(g::appliance_groups)
        .values(row)
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(())
}

pub fn get_group(
    conn: &mut DbConn,
    tenant: TenantId,
    id: GroupId,
) -> Result<Option<Group>, StoreError> {
    g::appliance_groups
        .filter(g::tenant_id.eq(tenant.to_string()))
        .filter(g::id.eq(id.to_string()))
        .select(GroupRow::as_select())
        .first(conn)
        .optional()?
        .map(Group::try_from)
        .transpose()
}

/// The groups of an application (the orchestrator reads them for any tenant by application id).
pub fn groups(conn: &mut DbConn, app: ApplicationId) -> Result<Vec<Group>, StoreError> {
    groups_of_many(conn, &[app])
}

/// The groups of the applications of `apps`, in id order.
pub fn groups_of_many(conn: &mut DbConn, apps: &[ApplicationId]) -> Result<Vec<Group>, StoreError> {
    let ids: Vec<String> = apps.iter().map(|i| i.to_string()).collect();
    convert(
        g::appliance_groups
            .filter(g::application_id.eq_any(ids))
            .select(GroupRow::as_select())
            .order(g::id.asc())
            .load(conn)?,
    )
}

pub fn save_group(conn: &mut DbConn, tenant: TenantId, group: &Group) -> Result<bool, StoreError> {
    let n = diesel::update(
        g::appliance_groups
            .filter(g::tenant_id.eq(tenant.to_string()))
            .filter(g::id.eq(group.id.to_string())),
    )
    .set(GroupRow::from(group))
    .execute(conn)
    .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(n > 0)
}

pub fn delete_group(conn: &mut DbConn, tenant: TenantId, id: GroupId) -> Result<bool, StoreError> {
    let n = diesel::delete(
        g::appliance_groups
            .filter(g::tenant_id.eq(tenant.to_string()))
            .filter(g::id.eq(id.to_string())),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// How many applications `tenant` has.
pub fn count_of_tenant(conn: &mut DbConn, tenant: TenantId) -> Result<i64, StoreError> {
    Ok(a::applications
        .filter(a::tenant_id.eq(tenant.to_string()))
        .count()
        .get_result(conn)?)
}

/// How many groups an application has.
pub fn count_groups(
    conn: &mut DbConn,
    tenant: TenantId,
    app: ApplicationId,
) -> Result<i64, StoreError> {
    Ok(g::appliance_groups
        .filter(g::tenant_id.eq(tenant.to_string()))
        .filter(g::application_id.eq(app.to_string()))
        .count()
        .get_result(conn)?)
}
