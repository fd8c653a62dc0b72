//! Rules for users: roles must fit the tenant kind; nobody demotes or disables themselves; a tenant
//! keeps at least one enabled admin (the provider: one operator); a role change or disabling ends the
//! user's sessions at once.

use crate::auth::service::normalize_email;
use crate::auth::{AuthCtx, password};
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{
    AssignmentResponse, CreateUserRequest, Page, PageQuery, UpdateUserRequest, UserResponse,
};
use common::{Role, UserId};
use serde_json::json;
use store::repo::{assignments, audit, refresh_tokens, users};
use store::time::now;
use store::{DbConn, User};
use validator::Validate;

fn check_role(ctx: &AuthCtx, role: Role) -> ApiResult<()> {
    if !role.allowed_in(ctx.tenant_kind) {
        return Err(ApiError::field(
            "role",
            "not_allowed",
            format!("a {} tenant has no {role} users", ctx.tenant_kind),
        ));
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    ctx: &AuthCtx,
    req: CreateUserRequest,
) -> ApiResult<UserResponse> {
    req.validate()?;
    check_role(ctx, req.role)?;
    let email = normalize_email(&req.email);
    password::check_strength("password", &req.password, &[&email, &req.name])?;
    let hash = state.hasher.hash(req.password.clone()).await?;
    let at = now();
    let user = User {
        id: UserId::new(),
        tenant_id: ctx.tenant_id,
        email,
        name: req.name.trim().to_owned(),
        role: req.role,
        password_hash: hash,
        disabled: false,
        token_version: 0,
        created_at: at,
        updated_at: at,
    };
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<UserResponse> {
            users::insert(c, tenant, &user)?;
            audit::Entry::new(tenant, &actor, "user.create")
                .object("user", user.id)
                .detail(json!({"role": user.role}))
                .record(c)?;
            Ok(user.into())
        })
        .await
}

pub async fn list(state: &AppState, ctx: &AuthCtx, q: &PageQuery) -> ApiResult<Page<UserResponse>> {
    let page = pagination::request(q)?;
    let tenant = ctx.tenant_id;
    Ok(pagination::respond(
        state
            .store
            .read(move |c| users::list(c, tenant, &page))
            .await?,
    ))
}

fn found(c: &mut DbConn, ctx_tenant: common::TenantId, id: UserId) -> ApiResult<User> {
    users::get(c, ctx_tenant, id)?.ok_or(ApiError::NotFound)
}

pub async fn get(state: &AppState, ctx: &AuthCtx, id: UserId) -> ApiResult<UserResponse> {
    let tenant = ctx.tenant_id;
    Ok(state
        .store
        .read(move |c| found(c, tenant, id))
        .await?
        .into())
}

/// The admin-like role whose last enabled holder must stay.
fn guardian_role(ctx: &AuthCtx) -> Role {
    match ctx.tenant_kind {
        common::TenantKind::Provider => Role::Operator,
        common::TenantKind::Customer => Role::Admin,
    }
}

pub async fn update(
    state: &AppState,
    ctx: &AuthCtx,
    id: UserId,
    req: UpdateUserRequest,
) -> ApiResult<UserResponse> {
    req.validate()?;
    if let Some(role) = req.role {
        check_role(ctx, role)?;
    }
    let (tenant, actor, me, guardian) =
        (ctx.tenant_id, ctx.actor(), ctx.user_id, guardian_role(ctx));
    state
        .store
        .write(move |c| -> ApiResult<UserResponse> {
            // the tenant's row lock serialises every change that could remove its last admin (two
            // admins disabling each other), then the user's row is read current
            store::repo::locks::tenant(c, tenant)?;
            let user = users::get_locked(c, tenant, id)?.ok_or(ApiError::NotFound)?;
            let role_changes = req.role.is_some_and(|r| r != user.role);
            let disabling = req.disabled == Some(true) && !user.disabled;
            if id == me && (role_changes || disabling) {
                return Err(ApiError::InvalidState {
                    code: "self_lockout",
                    detail: "you cannot change your own role or disable yourself".into(),
                });
            }
            let loses_guardian =
                user.role == guardian && !user.disabled && (role_changes || disabling);
            if loses_guardian && users::count_enabled_with_role(c, tenant, guardian)? <= 1 {
                return Err(ApiError::InvalidState {
                    code: "last_admin",
                    detail: format!("the tenant must keep at least one enabled {guardian}"),
                });
            }
            let ends_sessions = role_changes || disabling;
            let changes = users::UserChanges {
                name: req.name.as_deref().map(|n| n.trim().to_owned()),
                role: req.role,
                disabled: req.disabled,
                end_sessions: ends_sessions,
            };
            users::update(c, tenant, id, &changes)?;
            if ends_sessions {
                refresh_tokens::revoke_user(c, user.id, now())?;
            }
            audit::Entry::new(tenant, &actor, "user.update")
                .object("user", id)
                .detail(json!({"name": req.name, "role": req.role, "disabled": req.disabled}))
                .record(c)?;
            Ok(found(c, tenant, id)?.into())
        })
        .await
}

pub async fn assignments_of(
    state: &AppState,
    ctx: &AuthCtx,
    id: UserId,
    q: &PageQuery,
) -> ApiResult<Page<AssignmentResponse>> {
    let page = pagination::request(q)?;
    let tenant = ctx.tenant_id;
    let p = state
        .store
        .read(move |c| -> ApiResult<_> {
            found(c, tenant, id)?;
            Ok(assignments::list_for_user(c, tenant, id, &page)?)
        })
        .await?;
    Ok(pagination::respond(p))
}
