//! Which users of a tenant are assigned to which of its projects.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models::{Assignment, AssignmentRow};
use crate::schema::project_assignments::dsl as pa;
use crate::time::to_db;
use crate::{DbConn, StoreError};
use common::{ProjectId, TenantId, UserId};
use diesel::prelude::*;

pub fn get(
    conn: &mut DbConn,
    tenant: TenantId,
    project: ProjectId,
    user: UserId,
) -> Result<Option<Assignment>, StoreError> {
    pa::project_assignments
        .filter(pa::tenant_id.eq(tenant.to_string()))
        .filter(pa::project_id.eq(project.to_string()))
        .filter(pa::user_id.eq(user.to_string()))
        .select(AssignmentRow::as_select())
        .first(conn)
        .optional()?
        .map(Assignment::try_from)
        .transpose()
}

/// Insert the assignment. The caller has checked that project and user belong to `tenant`.
pub fn insert(conn: &mut DbConn, tenant: TenantId, a: &Assignment) -> Result<(), StoreError> {
    diesel::insert_into(pa::project_assignments)
        .values(AssignmentRow {
            project_id: a.project_id.to_string(),
            user_id: a.user_id.to_string(),
            tenant_id: tenant.to_string(),
            assigned_at: to_db(a.assigned_at),
        })
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "assignment"))?;
    Ok(())
}

pub fn delete(
    conn: &mut DbConn,
    tenant: TenantId,
    project: ProjectId,
    user: UserId,
) -> Result<bool, StoreError> {
    let n = diesel::delete(
        pa::project_assignments
            .filter(pa::tenant_id.eq(tenant.to_string()))
            .filter(pa::project_id.eq(project.to_string()))
            .filter(pa::user_id.eq(user.to_string())),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// The assignments of one project, ordered by user id (the page key).
pub fn list_for_project(
    conn: &mut DbConn,
    tenant: TenantId,
    project: ProjectId,
    page: &PageRequest,
) -> Result<Page<Assignment>, StoreError> {
    let mut q = pa::project_assignments
        .filter(pa::tenant_id.eq(tenant.to_string()))
        .filter(pa::project_id.eq(project.to_string()))
        .select(AssignmentRow::as_select())
        .order(pa::user_id.asc())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(pa::user_id.gt(after.clone()));
    }
    let rows = q.limit(fetch_limit(page.limit)).load(conn)?;
    Ok(Page::from_rows(
        convert(rows)?,
        page.limit,
        |x: &Assignment| x.user_id.to_string(),
    ))
}

/// The assignments of one user, ordered by project id (the page key).
pub fn list_for_user(
    conn: &mut DbConn,
    tenant: TenantId,
    user: UserId,
    page: &PageRequest,
) -> Result<Page<Assignment>, StoreError> {
    let mut q = pa::project_assignments
        .filter(pa::tenant_id.eq(tenant.to_string()))
        .filter(pa::user_id.eq(user.to_string()))
        .select(AssignmentRow::as_select())
        .order(pa::project_id.asc())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(pa::project_id.gt(after.clone()));
    }
    let rows = q.limit(fetch_limit(page.limit)).load(conn)?;
    Ok(Page::from_rows(
        convert(rows)?,
        page.limit,
        |x: &Assignment| x.project_id.to_string(),
    ))
}
