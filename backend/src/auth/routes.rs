//! `/api/v1/auth/*`: login, refresh, logout, me, password.

use super::service::{self, Issued};
use super::{Anyone, Auth, extract::client_ip, refresh};
use crate::error::ApiResult;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use common::Problem;
use common::api::{ChangePasswordRequest, LoginRequest, MeResponse, TokenResponse};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login)
        .service(refresh_session)
        .service(logout)
        .service(me)
        .service(change_password);
}

fn with_cookie(state: &AppState, issued: Issued) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(refresh::cookie(
            issued.refresh_token,
            state.config.refresh_token_ttl_secs,
            state.config.secure_cookies(),
        ))
        .json(issued.response)
}

fn cookie_token(req: &HttpRequest) -> Option<String> {
    req.cookie(refresh::COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// Log in with email and password.
///
/// Returns a 15-minute access token and sets the refresh cookie. Rate-limited per client IP and per
/// account (429 with `Retry-After`).
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong credentials, disabled account or suspended tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: crate::body::Body<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let ip = client_ip(&req, &state.trusted_proxies);
    let issued = service::login(&state, body.into_inner(), ip).await?;
    Ok(with_cookie(&state, issued))
}

/// Rotate the refresh cookie and get a new access token.
///
/// Presenting an already-rotated refresh token revokes the whole session.
#[utoipa::path(
    tag = "auth",
    security(()),
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Missing, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
async fn refresh_session(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let ip = client_ip(&req, &state.trusted_proxies);
    let issued = service::rotate(&state, cookie_token(&req), ip).await?;
    Ok(with_cookie(&state, issued))
}

/// End the session of the refresh cookie and clear it.
#[utoipa::path(
    tag = "auth",
    security(()),
    responses((status = 204, description = "Logged out"))
)]
#[post("/auth/logout")]
async fn logout(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    service::logout(&state, cookie_token(&req)).await?;
    Ok(HttpResponse::NoContent()
        .cookie(refresh::removal(state.config.secure_cookies()))
        .finish())
}

/// Who am I.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = ["operator", "admin", "user", "finance"])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/auth/me")]
async fn me(auth: Auth<Anyone>, state: web::Data<AppState>) -> ApiResult<web::Json<MeResponse>> {
    Ok(web::Json(service::current(&state, &auth).await?))
}

/// Change my password. Ends every other session and returns fresh tokens.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = ["operator", "admin", "user", "finance"])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed; new tokens", body = TokenResponse),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The password was changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password or weak new one", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many password changes; retry after the given delay", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password")]
async fn change_password(
    auth: Auth<Anyone>,
    state: web::Data<AppState>,
    body: crate::body::Body<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let issued = service::change_password(&state, &auth, body.into_inner()).await?;
    Ok(with_cookie(&state, issued))
}
