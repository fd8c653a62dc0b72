//! Rules for projects: admins (and operators, in the provider tenant) see and manage all of the
//! tenant's projects; users see only those assigned to them; finance users work on none.

use crate::auth::AuthCtx;
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{
    AssignmentResponse, CreateProjectRequest, Page, PageQuery, ProjectResponse,
    UpdateProjectRequest,
};
use common::{ProjectId, Role, TenantId, UserId};
use serde_json::json;
use store::repo::{assignments, audit, projects, users};
use store::time::now;
use store::{Assignment, DbConn, Project};
use validator::Validate;

/// Whether the caller sees every project of its tenant (rather than only its assigned ones).
fn sees_all(ctx: &AuthCtx) -> bool {
    ctx.role.management_rank() >= Role::Admin.management_rank()
}

/// A project the caller may see: another tenant's, or an unassigned one for a user, is not found.
pub fn visible(c: &mut DbConn, ctx: &AuthCtx, id: ProjectId) -> ApiResult<Project> {
    let p = if sees_all(ctx) {
        projects::get(c, ctx.tenant_id, id)?
    } else {
        projects::get_assigned(c, ctx.tenant_id, ctx.user_id, id)?
    };
    p.ok_or(ApiError::NotFound)
}

pub async fn list(
    state: &AppState,
    ctx: &AuthCtx,
    q: &PageQuery,
) -> ApiResult<Page<ProjectResponse>> {
    let page = pagination::request(q)?;
    let (tenant, user, all) = (ctx.tenant_id, ctx.user_id, sees_all(ctx));
    let p = state
        .store
        .read(move |c| {
            if all {
                projects::list(c, tenant, &page)
            } else {
                projects::list_assigned(c, tenant, user, &page)
            }
        })
        .await?;
    Ok(pagination::respond(p))
}

pub async fn get(state: &AppState, ctx: &AuthCtx, id: ProjectId) -> ApiResult<ProjectResponse> {
    let ctx = ctx.clone();
    Ok(state
        .store
        .read(move |c| visible(c, &ctx, id))
        .await?
        .into())
}

pub async fn create(
    state: &AppState,
    ctx: &AuthCtx,
    req: CreateProjectRequest,
) -> ApiResult<ProjectResponse> {
    req.validate()?;
    let at = now();
    let project = Project {
        id: ProjectId::new(),
        tenant_id: ctx.tenant_id,
        name: req.name.trim().to_owned(),
        description: req.description,
        created_at: at,
        updated_at: at,
    };
    let (tenant, actor, cap) = (
        ctx.tenant_id,
        ctx.actor(),
        state.config.limits.projects_per_tenant,
    );
    state
        .store
        .write(move |c| -> ApiResult<ProjectResponse> {
            store::repo::locks::tenant(c, tenant)?;
            crate::limits::check("projects", projects::count(c, tenant)?, cap)?;
            projects::insert(c, tenant, &project)?;
            audit::Entry::new(tenant, &actor, "project.create")
                .object("project", project.id)
                .detail(json!({"name": project.name}))
                .record(c)?;
            Ok(project.into())
        })
        .await
}

pub async fn update(
    state: &AppState,
    ctx: &AuthCtx,
    id: ProjectId,
    req: UpdateProjectRequest,
) -> ApiResult<ProjectResponse> {
    req.validate()?;
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<ProjectResponse> {
            store::repo::locks::tenant(c, tenant)?;
            let mut p = projects::get(c, tenant, id)?.ok_or(ApiError::NotFound)?;
            let old_name = p.name.clone();
            if let Some(n) = &req.name {
                p.name = n.trim().to_owned();
            }
            if let Some(d) = req.description {
                p.description = d;
            }
            p.updated_at = now();
            projects::save(c, tenant, &p)?;
            let action = if p.name != old_name {
                "project.rename"
            } else {
                "project.update"
            };
            audit::Entry::new(tenant, &actor, action)
                .object("project", id)
                .detail(json!({"from": old_name, "to": p.name}))
                .record(c)?;
            Ok(p.into())
        })
        .await
}

pub async fn delete(state: &AppState, ctx: &AuthCtx, id: ProjectId) -> ApiResult<()> {
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<()> {
            store::repo::locks::tenant(c, tenant)?;
            let p = projects::get(c, tenant, id)?.ok_or(ApiError::NotFound)?;
            // deleting would cascade its applications away and leave their VMs running, unseen
            let (deployed, live) = store::repo::appliances::live_count(c, tenant, Some(id))?;
            if deployed > 0 || live > 0 {
                return Err(ApiError::InvalidState {
                    code: "project_deployed",
                    detail: format!(
                        "undeploy the project's applications first ({deployed} deployed, {live} appliances not terminated)"
                    ),
                });
            }
            projects::delete(c, tenant, id)?;
            audit::Entry::new(tenant, &actor, "project.delete")
.object("project", id)
.detail(json!({"name": p.name}))
.record(c)?;
            Ok(())
        })
        .await
}

fn project_exists(c: &mut DbConn, tenant: TenantId, id: ProjectId) -> ApiResult<()> {
    projects::get(c, tenant, id)?
        .map(|_| ())
        .ok_or(ApiError::NotFound)
}

pub async fn members(
    state: &AppState,
    ctx: &AuthCtx,
    id: ProjectId,
    q: &PageQuery,
) -> ApiResult<Page<AssignmentResponse>> {
    let page = pagination::request(q)?;
    let tenant = ctx.tenant_id;
    let p = state
        .store
        .read(move |c| -> ApiResult<_> {
            project_exists(c, tenant, id)?;
            Ok(assignments::list_for_project(c, tenant, id, &page)?)
        })
        .await?;
    Ok(pagination::respond(p))
}

/// Assign a user of the tenant to one of its projects. Idempotent: an existing assignment is returned.
pub async fn assign(
    state: &AppState,
    ctx: &AuthCtx,
    id: ProjectId,
    user: UserId,
) -> ApiResult<(AssignmentResponse, bool)> {
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<(AssignmentResponse, bool)> {
            store::repo::locks::tenant(c, tenant)?;
            project_exists(c, tenant, id)?;
            let u = users::get(c, tenant, user)?.ok_or(ApiError::NotFound)?;
            if u.role == Role::Finance {
                return Err(ApiError::field(
                    "user_id",
                    "not_assignable",
                    "finance users do not work on projects",
                ));
            }
            if let Some(existing) = assignments::get(c, tenant, id, user)? {
                return Ok((existing.into(), false));
            }
            let a = Assignment {
                project_id: id,
                user_id: user,
                tenant_id: tenant,
                assigned_at: now(),
            };
            assignments::insert(c, tenant, &a)?;
            audit::Entry::new(tenant, &actor, "project.assign")
                .object("project", id)
                .detail(json!({"user_id": user}))
                .record(c)?;
            Ok((a.into(), true))
        })
        .await
}

pub async fn unassign(
    state: &AppState,
    ctx: &AuthCtx,
    id: ProjectId,
    user: UserId,
) -> ApiResult<()> {
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<()> {
            store::repo::locks::tenant(c, tenant)?;
            project_exists(c, tenant, id)?;
            if !assignments::delete(c, tenant, id, user)? {
                return Err(ApiError::NotFound);
            }
            audit::Entry::new(tenant, &actor, "project.unassign")
                .object("project", id)
                .detail(json!({"user_id": user}))
                .record(c)?;
            Ok(())
        })
        .await
}
