//! Projects of a tenant.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models::{Project, ProjectRow};
use crate::schema::{project_assignments as pa, projects::dsl as p};
use crate::time::to_db;
use crate::{DbConn, StoreError};
use common::{ProjectId, TenantId, UserId};
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, tenant: TenantId, project: &Project) -> Result<(), StoreError> {
    let mut row = ProjectRow::from(project);
    row.tenant_id = tenant.to_string();
    diesel::insert_into(p::projects)
        .values(row)
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(())
}

pub fn get(
    conn: &mut DbConn,
    tenant: TenantId,
    id: ProjectId,
) -> Result<Option<Project>, StoreError> {
    p::projects
        .filter(p::tenant_id.eq(tenant.to_string()))
        .filter(p::id.eq(id.to_string()))
        .select(ProjectRow::as_select())
        .first(conn)
        .optional()?
        .map(Project::try_from)
        .transpose()
}

/// A project of `tenant` that `user` is assigned to.
pub fn get_assigned(
    conn: &mut DbConn,
    tenant: TenantId,
    user: UserId,
    id: ProjectId,
) -> Result<Option<Project>, StoreError> {
    p::projects
        .inner_join(pa::table)
        .filter(p::tenant_id.eq(tenant.to_string()))
        .filter(p::id.eq(id.to_string()))
        .filter(pa::user_id.eq(user.to_string()))
        .select(ProjectRow::as_select())
        .first(conn)
        .optional()?
        .map(Project::try_from)
        .transpose()
}

pub fn list(
    conn: &mut DbConn,
    tenant: TenantId,
    page: &PageRequest,
) -> Result<Page<Project>, StoreError> {
    let mut q = p::projects
        .filter(p::tenant_id.eq(tenant.to_string()))
        .select(ProjectRow::as_select())
        .order(p::id.asc())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(p::id.gt(after.clone()));
    }
    let rows = q.limit(fetch_limit(page.limit)).load(conn)?;
    Ok(Page::from_rows(
        convert(rows)?,
        page.limit,
        |x: &Project| x.id.to_string(),
    ))
}

/// The projects of `tenant` assigned to `user`.
pub fn list_assigned(
    conn: &mut DbConn,
    tenant: TenantId,
    user: UserId,
    page: &PageRequest,
) -> Result<Page<Project>, StoreError> {
    let base = p::projects
        .inner_join(pa::table)
        .filter(p::tenant_id.eq(tenant.to_string()))
        .filter(pa::user_id.eq(user.to_string()))
        .select(ProjectRow::as_select())
        .order(p::id.asc())
        .limit(fetch_limit(page.limit));
    let rows = match &page.after {
        None => base.load(conn)?,
        Some(after) => base.filter(p::id.gt(after.clone())).load(conn)?,
    };
    Ok(Page::from_rows(
        convert(rows)?,
        page.limit,
        |x: &Project| x.id.to_string(),
    ))
}

pub fn save(conn: &mut DbConn, tenant: TenantId, project: &Project) -> Result<bool, StoreError> {
    let n = diesel::update(
        p::projects
            .filter(p::tenant_id.eq(tenant.to_string()))
            .filter(p::id.eq(project.id.to_string())),
    )
    .set((
        p::name.eq(&project.name),
        p::description.eq(&project.description),
        p::updated_at.eq(to_db(project.updated_at)),
    ))
    .execute(conn)
    .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(n > 0)
}

pub fn delete(conn: &mut DbConn, tenant: TenantId, id: ProjectId) -> Result<bool, StoreError> {
    let n = diesel::delete(
        p::projects
            .filter(p::tenant_id.eq(tenant.to_string()))
            .filter(p::id.eq(id.to_string())),
    )
    .execute(conn)
    .map_err(StoreError::orphan_guard)?;
    Ok(n > 0)
}

/// How many projects `tenant` has.
pub fn count(conn: &mut DbConn, tenant: TenantId) -> Result<i64, StoreError> {
    Ok(p::projects
        .filter(p::tenant_id.eq(tenant.to_string()))
        .count()
        .get_result(conn)?)
}
