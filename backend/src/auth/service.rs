//! Login, refresh rotation with reuse detection, logout, the current user, and password changes.

use super::{AuthCtx, password, refresh};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::Duration;
use common::api::{ChangePasswordRequest, LoginRequest, MeResponse, TokenResponse};
use common::{SessionFamilyId, TenantStatus};
use serde_json::json;
use store::repo::unscoped;
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

/// When a session that began at `started` ends, however often it is refreshed.
fn session_end(
    state: &AppState,
    started: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    started
        + Duration::seconds(i64::try_from(state.config.session_max_secs).unwrap_or(i64::MAX / 2))
}

/// The actor of an authenticated user's own action.
fn actor_of(user: &User, ip: String) -> Actor {
    Actor {
        user_id: Some(user.id),
        tenant_id: Some(user.tenant_id),
        role: Some(user.role),
        email: Some(user.email.clone()),
        source_ip: Some(ip),
    }
}

/// Start or continue a session family: store a new refresh token and sign an access token.
fn issue(
    state: &AppState,
    conn: &mut DbConn,
    user: &User,
    tenant: &Tenant,
    family: SessionFamilyId,
    session_started_at: chrono::DateTime<chrono::Utc>,
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
            // never past the session's absolute end
            expires_at: (created + Duration::seconds(ttl))
                .min(session_end(state, session_started_at)),
            used_at: None,
            revoked_at: None,
            session_started_at,
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
    let mut found = state
        .store
        .read(move |c| unscoped::users::by_email(c, &lookup))
        .await?;
    if let Some(slug) = &req.tenant {
        found.retain(|(_, t)| &t.slug == slug);
    }
    // an unknown email costs the same argon2 work as a wrong password
    if found.is_empty() {
        state
            .hasher
            .verify(req.password.clone(), state.dummy_hash.to_string())
            .await?;
        return Err(ApiError::LoginRefused("invalid_credentials"));
    }
    let mut matched = Vec::new();
    for (user, tenant) in found {
        if state
            .hasher
            .verify(req.password.clone(), user.password_hash.clone())
            .await?
        {
            matched.push((user, tenant));
        }
    }
    let (user, tenant) = match matched.len() {
        0 => return Err(ApiError::LoginRefused("invalid_credentials")),
        1 => matched.remove(0),
        _ => return Err(ApiError::LoginRefused("tenant_required")),
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
            let actor = actor_of(&user, ip);
            audit::Entry::new(tenant.id, &actor, "auth.login")
                .object("user", user.id)
                .record(c)?;
            issue(&st, c, &user, &tenant, SessionFamilyId::new(), now())
        })
        .await
}

enum Rotation {
    Issued(Issued),
    Invalid,
    Reused,
}

/// Exchange a refresh token for a new pair. A token used again within the grace period (two tabs
/// refreshing at once) gets a pair of its own; used again later, it is a reuse: its whole session is
/// revoked and the user's access tokens stop working (token version + 1). A session ends for good
/// at its absolute lifetime, however often it was refreshed.
pub async fn rotate(state: &AppState, token: Option<String>, ip: String) -> ApiResult<Issued> {
    let token = token.ok_or(ApiError::Unauthenticated("no refresh token"))?;
    let hash = refresh::digest(&token);
    let st = state.clone();
    let grace =
        Duration::seconds(i64::try_from(state.config.refresh_reuse_grace_secs).unwrap_or(0));
    let outcome = state
        .store
        .write(move |c| -> ApiResult<Rotation> {
            let Some(found) = refresh_tokens::by_hash(c, &hash)? else { return Ok(Rotation::Invalid) };
            // the user's row lock orders this refresh with a logout, a password change or an admin's
            // change of the same user (they take it too): the token is read again under it
            users::get_locked(c, found.tenant_id, found.user_id)?;
            let Some(rt) = refresh_tokens::by_hash(c, &hash)? else { return Ok(Rotation::Invalid) };
            let at = now();
            if rt.revoked_at.is_some()
                || rt.expires_at <= at
                || session_end(&st, rt.session_started_at) <= at
            {
                return Ok(Rotation::Invalid);
            }
            // when it was used before this request (a concurrent refresh that won `mark_used` used
            // it just now)
            let used_before = match rt.used_at {
                None if refresh_tokens::mark_used(c, &rt, at)? => None,
                // marked by a concurrent refresh, or revoked, since it was read
                None => match refresh_tokens::by_hash(c, &hash)? {
                    Some(now_rt) if now_rt.revoked_at.is_none() => Some(now_rt.used_at.unwrap_or(at)),
                    _ => return Ok(Rotation::Invalid),
                },
                Some(used) => Some(used),
            };
            if used_before.is_some_and(|used| at - used > grace) {
                refresh_tokens::revoke_family(c, rt.family_id, at)?;
                users::bump_token_version(c, rt.tenant_id, rt.user_id)?;
                let actor = Actor { source_ip: Some(ip), ..Actor::system() };
                audit::Entry::new(rt.tenant_id, &actor, "auth.refresh_reuse")
                    .object("session", rt.family_id)
                    .detail(json!({"detail": "a rotated refresh token was presented again; session revoked, access tokens ended"}))
                    .record(c)?;
                return Ok(Rotation::Reused);
            }
            match users::with_tenant(c, rt.tenant_id, rt.user_id)? {
                Some((user, tenant)) if !user.disabled && tenant.status == TenantStatus::Active => {
                    Ok(Rotation::Issued(issue(&st, c, &user, &tenant, rt.family_id, rt.session_started_at)?))
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

/// End the session the refresh token belongs to, and every access token issued before (token
/// version + 1: other sessions refresh theirs silently). Idempotent.
pub async fn logout(state: &AppState, token: Option<String>) -> ApiResult<()> {
    let Some(token) = token else { return Ok(()) };
    let hash = refresh::digest(&token);
    state
        .store
        .write(move |c| -> ApiResult<()> {
            if let Some(rt) = refresh_tokens::by_hash(c, &hash)?
                && rt.revoked_at.is_none()
            {
                // ordered with a concurrent refresh of the same user (see `rotate`)
                users::get_locked(c, rt.tenant_id, rt.user_id)?;
                refresh_tokens::revoke_family(c, rt.family_id, now())?;
                users::bump_token_version(c, rt.tenant_id, rt.user_id)?;
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
    state
        .password_limiter
        .check_key(&ctx.user_id)
        .map_err(|not_until| ApiError::RateLimited {
            retry_after_secs: crate::auth::ratelimit::wait_secs(&not_until),
        })?;
    let (tid, uid, ctx_version) = (ctx.tenant_id, ctx.user_id, ctx.token_version);
    let (user, tenant) = state
        .store
        .read(move |c| users::with_tenant(c, tid, uid))
        .await?
        .ok_or(ApiError::NotFound)?;
    if !state
        .hasher
        .verify(req.current_password, user.password_hash.clone())
        .await?
    {
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
    let new_hash = state.hasher.hash(req.new_password).await?;
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
            audit::Entry::new(tenant.id, &actor, "user.password_change")
                .object("user", uid)
                .record(c)?;
            let user = users::get(c, tid, uid)?.ok_or(ApiError::NotFound)?;
            issue(&st, c, &user, &tenant, SessionFamilyId::new(), now())
        })
        .await
}
