//! Login, refresh rotation with reuse detection, logout, the current user, and password changes.

use super::{AuthCtx, password, refresh};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::Duration;
use common::api::{ChangePasswordRequest, LoginRequest, MeResponse, TokenResponse};
use common::{SessionFamilyId, TenantStatus};
use serde_json::json;
use store::repo::{audit, refresh_tokens, users};
use store::time::now;
use store::{Actor, DbConn, RefreshToken, Tenant, User};
use validator::Validate;

/// A new access token and the refresh token to put in the cookie.
pub struct Issued {
    pub response: TokenResponse,
    pub refresh_token: String,
}

/// Emails are compared trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn me(user: &User, tenant: &Tenant) -> MeResponse {
    MeResponse {
        id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role,
        tenant_id: tenant.id,
        tenant_name: tenant.name.clone(),
        tenant_kind: tenant.kind,
    }
}

/// Start or continue a session family: store a new refresh token and sign an access token.
fn issue(
    state: &AppState,
    conn: &mut DbConn,
    user: &User,
    tenant: &Tenant,
    family: SessionFamilyId,
) -> ApiResult<Issued> {
    let token = refresh::generate().map_err(ApiError::internal)?;
    let created = now();
    let ttl = i64::try_from(state.config.refresh_token_ttl_secs).unwrap_or(i64::MAX);
    refresh_tokens::insert(
        conn,
        &RefreshToken {
            id: uuid::Uuid::now_v7(),
            family_id: family,
            user_id: user.id,
            tenant_id: tenant.id,
            token_hash: refresh::digest(&token),
            created_at: created,
            expires_at: created + Duration::seconds(ttl),
            used_at: None,
            revoked_at: None,
        },
    )?;
    let claims = state
        .jwt
        .claims(user.id, tenant.id, user.role, user.token_version);
    let access_token = state.jwt.encode(&claims).map_err(ApiError::internal)?;
    Ok(Issued {
        response: TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: state.jwt.ttl_secs,
            me: me(user, tenant),
        },
        refresh_token: token,
    })
}

pub async fn login(state: &AppState, req: LoginRequest, ip: String) -> ApiResult<Issued> {
    req.validate()?;
    let email = normalize_email(&req.email);
    state
        .limiter
        .check(&ip, &email)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let lookup = email.clone();
    let found = state
        .store
        .read(move |c| users::by_email(c, &lookup))
        .await?;
    let phc = match &found {
        Some((u, _)) => u.password_hash.clone(),
        None => state.dummy_hash.to_string(),
    };
    let password = req.password;
    let matches = password::blocking(move || password::verify(&password, &phc)).await?;
    let Some((user, tenant)) = found.filter(|_| matches) else {
        return Err(ApiError::LoginRefused("invalid_credentials"));
    };
    if user.disabled {
        return Err(ApiError::LoginRefused("account_disabled"));
    }
    if tenant.status != TenantStatus::Active {
        return Err(ApiError::LoginRefused("tenant_suspended"));
    }
    let st = state.clone();
    state
        .store
        .write(move |c| {
            let actor = Actor {
                user_id: Some(user.id),
                email: Some(user.email.clone()),
                source_ip: Some(ip),
            };
            audit::record(
                c,
                tenant.id,
                &actor,
                "auth.login",
                "user",
                &user.id.to_string(),
                json!({}),
            )?;
            issue(&st, c, &user, &tenant, SessionFamilyId::new())
        })
        .await
}

enum Rotation {
    Issued(Issued),
    Invalid,
    Reused,
}

/// Exchange a refresh token for a new pair. A token used twice revokes its whole family.
pub async fn rotate(state: &AppState, token: Option<String>, ip: String) -> ApiResult<Issued> {
    let token = token.ok_or(ApiError::Unauthenticated("no refresh token"))?;
    let hash = refresh::digest(&token);
    let st = state.clone();
    let outcome = state
        .store
        .write(move |c| -> ApiResult<Rotation> {
            let Some(rt) = refresh_tokens::by_hash(c, &hash)? else { return Ok(Rotation::Invalid) };
            let at = now();
            if rt.revoked_at.is_some() || rt.expires_at <= at {
                return Ok(Rotation::Invalid);
            }
            if rt.used_at.is_some() || !refresh_tokens::mark_used(c, &rt, at)? {
                refresh_tokens::revoke_family(c, rt.family_id, at)?;
                let actor = Actor { user_id: Some(rt.user_id), email: None, source_ip: Some(ip) };
                audit::record(
                    c,
                    rt.tenant_id,
                    &actor,
                    "auth.refresh_reuse",
                    "session",
                    &rt.family_id.to_string(),
                    json!({"detail": "a rotated refresh token was presented again; session revoked"}),
                )?;
                return Ok(Rotation::Reused);
            }
            match users::with_tenant(c, rt.tenant_id, rt.user_id)? {
                Some((user, tenant)) if !user.disabled && tenant.status == TenantStatus::Active => {
                    Ok(Rotation::Issued(issue(&st, c, &user, &tenant, rt.family_id)?))
                }
                _ => {
                    refresh_tokens::revoke_family(c, rt.family_id, at)?;
                    Ok(Rotation::Invalid)
                }
            }
        })
        .await?;
    match outcome {
        Rotation::Issued(i) => Ok(i),
        Rotation::Invalid => Err(ApiError::Unauthenticated(
            "the refresh token is invalid or expired",
        )),
        Rotation::Reused => {
            tracing::warn!("refresh token reuse detected; session family revoked");
            Err(ApiError::Unauthenticated(
                "the refresh token was already used; the session is revoked",
            ))
        }
    }
}

/// End the session the refresh token belongs to. Idempotent.
pub async fn logout(state: &AppState, token: Option<String>) -> ApiResult<()> {
    let Some(token) = token else { return Ok(()) };
    let hash = refresh::digest(&token);
    state
        .store
        .write(move |c| -> ApiResult<()> {
            if let Some(rt) = refresh_tokens::by_hash(c, &hash)? {
                refresh_tokens::revoke_family(c, rt.family_id, now())?;
            }
            Ok(())
        })
        .await
}

pub async fn current(state: &AppState, ctx: &AuthCtx) -> ApiResult<MeResponse> {
    let (tid, uid) = (ctx.tenant_id, ctx.user_id);
    let (user, tenant) = state
        .store
        .read(move |c| users::with_tenant(c, tid, uid))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(me(&user, &tenant))
}

/// Change the caller's password: every other session ends; a new one is returned.
pub async fn change_password(
    state: &AppState,
    ctx: &AuthCtx,
    req: ChangePasswordRequest,
) -> ApiResult<Issued> {
    req.validate()?;
    let (tid, uid, ctx_version) = (ctx.tenant_id, ctx.user_id, ctx.token_version);
    let (user, tenant) = state
        .store
        .read(move |c| users::with_tenant(c, tid, uid))
        .await?
        .ok_or(ApiError::NotFound)?;
    let (current, phc) = (req.current_password, user.password_hash.clone());
    if !password::blocking(move || password::verify(&current, &phc)).await? {
        return Err(ApiError::field(
            "current_password",
            "incorrect",
            "is incorrect",
        ));
    }
    password::check_strength(
        "new_password",
        &req.new_password,
        &[&user.email, &user.name],
    )?;
    let new = req.new_password;
    let new_hash = password::blocking(move || password::hash(&new)).await??;
    let (st, actor, verified) = (state.clone(), ctx.actor(), user.password_hash);
    state
        .store
        .write(move |c| {
            // re-read under the row lock: an admin may have disabled or demoted the user, or another
            // change may have replaced the password, while the hashes were computed
            let user = users::get_locked(c, tid, uid)?.ok_or(ApiError::NotFound)?;
            if user.disabled || user.token_version != ctx_version {
                return Err(ApiError::Unauthenticated("the session ended meanwhile"));
            }
            if user.password_hash != verified {
                return Err(ApiError::InvalidState {
                    code: "password_changed",
                    detail: "the password was changed meanwhile; try again".into(),
                });
            }
            users::set_password(c, tid, uid, &new_hash)?;
            refresh_tokens::revoke_user(c, uid, now())?;
            audit::record(
                c,
                tenant.id,
                &actor,
                "user.password_change",
                "user",
                &uid.to_string(),
                json!({}),
            )?;
            let user = users::get(c, tid, uid)?.ok_or(ApiError::NotFound)?;
            issue(&st, c, &user, &tenant, SessionFamilyId::new())
        })
        .await
}
