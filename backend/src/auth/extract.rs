//! Who is calling: the middleware that turns a bearer token into an `AuthCtx`, and the typed extractors
//! (`Auth<Admin>`, …) that refuse lower roles with 403 before any other input is looked at.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use common::{Role, TenantId, TenantKind, TenantStatus, UserId};
use std::future::{Ready, ready};
use std::marker::PhantomData;
use store::Actor;

/// The authenticated caller, checked against the database on every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthCtx {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub tenant_kind: TenantKind,
    pub role: Role,
    pub email: String,
    pub ip: String,
    /// The user's token version the request was authenticated with.
    pub token_version: i32,
    /// When the access token expires (Unix seconds): a live stream ends then.
    pub expires_at: u64,
}

impl AuthCtx {
    /// The caller as recorded in the audit log.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            tenant_id: Some(self.tenant_id),
            role: Some(self.role),
            email: Some(self.email.clone()),
            source_ip: Some(self.ip.clone()),
        }
    }
}

/// A set of roles a route admits.
pub trait Policy {
    const ROLES: &'static [Role];
}

/// Provider operators only.
pub struct Operator;
/// Tenant admins (and operators, within the provider tenant).
pub struct Admin;
/// Anyone who works on projects: users, admins, operators — not finance.
pub struct Member;
/// Finance, admins and operators: usage and invoices.
pub struct Finance;
/// Any authenticated user.
pub struct Anyone;

impl Policy for Operator {
    const ROLES: &'static [Role] = &[Role::Operator];
}
impl Policy for Admin {
    const ROLES: &'static [Role] = &[Role::Operator, Role::Admin];
}
impl Policy for Member {
    const ROLES: &'static [Role] = &[Role::Operator, Role::Admin, Role::User];
}
impl Policy for Finance {
    const ROLES: &'static [Role] = &[Role::Operator, Role::Admin, Role::Finance];
}
impl Policy for Anyone {
    const ROLES: &'static [Role] = &Role::ALL;
}

/// An authenticated caller whose role `P` admits. Put it first among a handler's arguments.
pub struct Auth<P: Policy>(pub AuthCtx, PhantomData<P>);

impl<P: Policy> std::ops::Deref for Auth<P> {
    type Target = AuthCtx;
    fn deref(&self) -> &AuthCtx {
        &self.0
    }
}

impl<P: Policy> FromRequest for Auth<P> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = req.extensions().get::<AuthCtx>().cloned();
        ready(match ctx {
            None => Err(ApiError::Unauthenticated(
                "send an access token as `Authorization: Bearer …`",
            )),
            Some(ctx) if P::ROLES.contains(&ctx.role) => Ok(Auth(ctx, PhantomData)),
            Some(_) => Err(ApiError::Forbidden),
        })
    }
}

/// The client's IP: the socket peer, or, when the peer is a trusted proxy, the rightmost address of
/// `X-Forwarded-For` (else `Forwarded`) that no trusted proxy added (see [`super::client_ip`]).
pub fn client_ip(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> String {
    use super::client_ip::{client_addr, forwarded, x_forwarded_for};
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".into();
    };
    if trusted.is_empty() {
        return peer.to_string();
    }
    let values = |name: &str| {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
    };
    let xff = values("x-forwarded-for");
    let hops = if !xff.is_empty() {
        x_forwarded_for(xff.into_iter())
    } else {
        forwarded(values("forwarded").into_iter())
    };
    client_addr(peer, &hops.unwrap_or_default(), trusted).to_string()
}

/// Middleware: when a bearer token is present it must be valid, current and belong to an enabled user
/// of an active tenant; the result is an `AuthCtx` in the request's extensions.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(value) = req.headers().get(AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated(
                "the Authorization header must be `Bearer <token>`",
            ))?
            .to_owned();
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))?;
        let ip = client_ip(req.request(), &state.trusted_proxies);
        let ctx = resolve(&state, &token, ip).await?;
        req.extensions_mut().insert(ctx);
    }
    next.call(req).await
}

/// Whether a token of version `ver` and role `role` still lets `user` in.
fn admitted(user: &store::User, tenant: &store::Tenant, ver: i32, role: Role) -> bool {
    !user.disabled
        && tenant.status == TenantStatus::Active
        && user.token_version == ver
        && user.role == role
}

/// Whether the caller of `ctx` would still be let in (a long-lived stream asks again).
pub fn still_admitted(c: &mut store::DbConn, ctx: &AuthCtx) -> Result<bool, store::StoreError> {
    Ok(
        store::repo::users::with_tenant(c, ctx.tenant_id, ctx.user_id)?
            .is_some_and(|(u, t)| admitted(&u, &t, ctx.token_version, ctx.role)),
    )
}

async fn resolve(state: &AppState, token: &str, ip: String) -> Result<AuthCtx, ApiError> {
    let claims = state
        .jwt
        .decode(token)
        .map_err(|_| ApiError::Unauthenticated("the access token is invalid or expired"))?;
    let (tid, uid) = (claims.tid, claims.sub);
    let found = state
        .store
        .read(move |c| store::repo::users::with_tenant(c, tid, uid))
        .await?;
    let (user, tenant) = found.ok_or(ApiError::Unauthenticated(
        "the access token is no longer valid",
    ))?;
    if !admitted(&user, &tenant, claims.ver, claims.role) {
        return Err(ApiError::Unauthenticated(
            "the access token is no longer valid",
        ));
    }
    Ok(AuthCtx {
        user_id: user.id,
        tenant_id: tenant.id,
        tenant_kind: tenant.kind,
        role: user.role,
        email: user.email,
        ip,
        token_version: user.token_version,
        expires_at: claims.exp,
    })
}
