//! Applications, their layers and groups; and the reconcile queue: due applications are claimed with a
//! lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two orchestrators never reconcile the same one.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_apps::{Application, ApplicationRow, Group, GroupRow, Layer, LayerRow};
use crate::schema::{appliance_groups::dsl as g, applications::dsl as a, layers::dsl as l};
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use common::{ApplicationId, GroupId, LayerId, ProjectId, TenantId};
use diesel::prelude::*;

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

/// Claim the default rules of an application that it has not had yet, of the `upto` there are:
/// returns how many it had (the caller makes the rest, in order), or `None` when it has had them
/// all or a concurrent caller claimed them first (so each default is made once, and one a user
/// removed is not made again).
pub fn claim_defaults(
    conn: &mut DbConn,
    tenant: TenantId,
    id: ApplicationId,
    upto: usize,
) -> Result<Option<usize>, StoreError> {
    let upto = i32::try_from(upto).map_err(|_| StoreError::Corrupt("default rules".into()))?;
    let scoped = a::applications
        .filter(a::tenant_id.eq(tenant.to_string()))
        .filter(a::id.eq(id.to_string()));
    let had: Option<i32> = scoped
        .clone()
        .select(a::defaults_wired)
        .first(conn)
        .optional()?;
    let Some(had) = had.filter(|h| *h < upto) else {
        return Ok(None);
    };
    let n = diesel::update(scoped.filter(a::defaults_wired.eq(had)))
        .set(a::defaults_wired.eq(upto))
        .execute(conn)?;
    Ok((n > 0).then(|| usize::try_from(had).unwrap_or(0)))
}
