//! Rules for tenants: the provider tenant is never suspended or deleted; a tenant is created together
//! with its first admin in one transaction.

use crate::auth::service::normalize_email;
use crate::auth::{AuthCtx, password};
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{
    CreateTenantRequest, CreatedTenantResponse, Page, PageQuery, ProjectResponse, Quotas,
    TenantResponse, UpdateTenantRequest, UserResponse,
};
use common::{Role, TenantId, TenantKind, TenantStatus, UserId};
use serde_json::json;
use store::repo::{audit, projects, tenants, users};
use store::time::now;
use store::{DbConn, Tenant, User};
use validator::Validate;

pub async fn create(
    state: &AppState,
    ctx: &AuthCtx,
    req: CreateTenantRequest,
) -> ApiResult<CreatedTenantResponse> {
    req.validate()?;
    let email = normalize_email(&req.admin.email);
    password::check_strength(
        "admin.password",
        &req.admin.password,
        &[&email, &req.admin.name],
    )?;
    let hash = state.hasher.hash(req.admin.password.clone()).await?;
    let at = now();
    let tenant = Tenant {
        id: TenantId::new(),
        name: req.name.trim().to_owned(),
        slug: req.slug,
        kind: TenantKind::Customer,
        status: TenantStatus::Active,
        quotas: req.quotas.unwrap_or_default(),
        created_at: at,
        updated_at: at,
    };
    let admin = User {
        id: UserId::new(),
        tenant_id: tenant.id,
        email,
        name: req.admin.name.trim().to_owned(),
        role: Role::Admin,
        password_hash: hash,
        disabled: false,
        token_version: 0,
        created_at: at,
        updated_at: at,
    };
    let actor = ctx.actor();
    state
        .store
        .write(move |c| -> ApiResult<CreatedTenantResponse> {
            tenants::insert(c, &tenant)?;
            users::insert(c, tenant.id, &admin).map_err(|e| match e {
                store::StoreError::Conflict { .. } => ApiError::Conflict {
                    field: "admin.email",
                },
                other => other.into(),
            })?;
            let tid = tenant.id.to_string();
            audit::Entry::new(tenant.id, &actor, "tenant.create")
                .object("tenant", tid)
                .detail(json!({"slug": tenant.slug}))
                .record(c)?;
            audit::Entry::new(tenant.id, &actor, "user.create")
                .object("user", admin.id)
                .detail(json!({"role": "admin"}))
                .record(c)?;
            Ok(CreatedTenantResponse {
                tenant: tenant.into(),
                admin: admin.into(),
            })
        })
        .await
}

pub async fn list(state: &AppState, q: &PageQuery) -> ApiResult<Page<TenantResponse>> {
    let page = pagination::request(q)?;
    Ok(pagination::respond(
        state.store.read(move |c| tenants::list(c, &page)).await?,
    ))
}

fn found(c: &mut DbConn, id: TenantId) -> ApiResult<Tenant> {
    tenants::get(c, id)?.ok_or(ApiError::NotFound)
}

pub async fn get(state: &AppState, id: TenantId) -> ApiResult<TenantResponse> {
    Ok(state.store.read(move |c| found(c, id)).await?.into())
}

pub async fn update(
    state: &AppState,
    ctx: &AuthCtx,
    id: TenantId,
    req: UpdateTenantRequest,
) -> ApiResult<TenantResponse> {
    req.validate()?;
    let actor = ctx.actor();
    state
        .store
        .write(move |c| -> ApiResult<TenantResponse> {
            store::repo::locks::tenant(c, id)?;
            let name = req.name.as_deref().map(str::trim);
            let quotas: Option<Quotas> = req.quotas;
            let t = tenants::update(c, id, name, quotas)?.ok_or(ApiError::NotFound)?;
            audit::Entry::new(id, &actor, "tenant.update")
                .object("tenant", id)
                .detail(json!({"name": name, "quotas": quotas.is_some()}))
                .record(c)?;
            Ok(t.into())
        })
        .await
}

fn refuse_provider(t: &Tenant, what: &str) -> ApiResult<()> {
    if t.kind == TenantKind::Provider {
        return Err(ApiError::InvalidState {
            code: "provider_tenant",
            detail: format!("the provider tenant cannot be {what}"),
        });
    }
    Ok(())
}

/// Suspend or reactivate. Suspension takes effect at once: the tenant's tokens stop working.
pub async fn set_status(
    state: &AppState,
    ctx: &AuthCtx,
    id: TenantId,
    status: TenantStatus,
) -> ApiResult<TenantResponse> {
    let actor = ctx.actor();
    state
        .store
        .write(move |c| -> ApiResult<TenantResponse> {
            store::repo::locks::tenant(c, id)?;
            refuse_provider(&found(c, id)?, "suspended")?;
            let t = tenants::set_status(c, id, status)?.ok_or(ApiError::NotFound)?;
            let action = match status {
                TenantStatus::Suspended => "tenant.suspend",
                TenantStatus::Active => "tenant.reactivate",
            };
            audit::Entry::new(id, &actor, action)
                .object("tenant", id)
                .record(c)?;
            Ok(t.into())
        })
        .await
}

/// Delete a customer tenant with its users, projects and sessions. The audit log keeps its entries.
pub async fn delete(state: &AppState, ctx: &AuthCtx, id: TenantId) -> ApiResult<()> {
    let actor = ctx.actor();
    state
        .store
        .write(move |c| -> ApiResult<()> {
            store::repo::locks::tenant(c, id)?;
            let t = found(c, id)?;
            refuse_provider(&t, "deleted")?;
            // deleting would cascade its applications away and leave their VMs running, unseen
            let (deployed, live) = store::repo::appliances::live_count(c, id, None)?;
            if deployed > 0 || live > 0 {
                return Err(ApiError::InvalidState {
                    code: "tenant_deployed",
                    detail: format!(
                        "the tenant's applications must be undeployed first ({deployed} deployed, {live} appliances not terminated)"
                    ),
                });
            }
            tenants::delete(c, id)?;
            audit::Entry::new(id, &actor, "tenant.delete")
.object("tenant", id)
.detail(json!({"slug": t.slug}))
.record(c)?;
            Ok(())
        })
        .await
}

pub async fn list_users(
    state: &AppState,
    id: TenantId,
    q: &PageQuery,
) -> ApiResult<Page<UserResponse>> {
    let page = pagination::request(q)?;
    let p = state
        .store
        .read(move |c| -> ApiResult<_> {
            found(c, id)?;
            Ok(users::list(c, id, &page)?)
        })
        .await?;
    Ok(pagination::respond(p))
}

pub async fn list_projects(
    state: &AppState,
    id: TenantId,
    q: &PageQuery,
) -> ApiResult<Page<ProjectResponse>> {
    let page = pagination::request(q)?;
    let p = state
        .store
        .read(move |c| -> ApiResult<_> {
            found(c, id)?;
            Ok(projects::list(c, id, &page)?)
        })
        .await?;
    Ok(pagination::respond(p))
}
