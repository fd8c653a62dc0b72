//! `/api/v1/users/*` (admins; operators for the provider's own users).

use super::service;
use crate::auth::{Admin, Auth};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, post, web};
use common::api::{
    AssignmentResponse, CreateUserRequest, Page, PageQuery, UpdateUserRequest, UserResponse,
};
use common::{Problem, UserId};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(list_user_projects);
}

/// The users of my tenant.
#[utoipa::path(tag = "users", security(("bearer" = ["operator", "admin"])), params(PageQuery),
    responses((status = 200, body = Page<UserResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/users")]
async fn list_users(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<UserResponse>>> {
    Ok(web::Json(service::list(&state, &auth, &q).await?))
}

/// Create a user in my tenant.
#[utoipa::path(tag = "users", security(("bearer" = ["operator", "admin"])), request_body = CreateUserRequest,
    responses((status = 201, body = UserResponse), Unauthenticated, Forbidden,
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/users")]
async fn create_user(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    body: crate::body::Body<CreateUserRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&state, &auth, body.into_inner()).await?))
}

/// One user of my tenant.
#[utoipa::path(tag = "users", security(("bearer" = ["operator", "admin"])),
    responses((status = 200, body = UserResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/users/{user_id}")]
async fn get_user(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    user_id: web::Path<UserId>,
) -> ApiResult<web::Json<UserResponse>> {
    Ok(web::Json(service::get(&state, &auth, *user_id).await?))
}

/// Rename a user, change its role, disable or enable it. A role change or disabling ends its sessions.
#[utoipa::path(tag = "users", security(("bearer" = ["operator", "admin"])), request_body = UpdateUserRequest,
    responses((status = 200, body = UserResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Self-lockout or last admin", body = Problem, content_type = "application/problem+json"), Invalid))]
#[patch("/users/{user_id}")]
async fn update_user(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    user_id: web::Path<UserId>,
    body: crate::body::Body<UpdateUserRequest>,
) -> ApiResult<web::Json<UserResponse>> {
    Ok(web::Json(
        service::update(&state, &auth, *user_id, body.into_inner()).await?,
    ))
}

/// The projects a user is assigned to.
#[utoipa::path(tag = "users", security(("bearer" = ["operator", "admin"])), params(PageQuery),
    responses((status = 200, body = Page<AssignmentResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/users/{user_id}/projects")]
async fn list_user_projects(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    user_id: web::Path<UserId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<AssignmentResponse>>> {
    Ok(web::Json(
        service::assignments_of(&state, &auth, *user_id, &q).await?,
    ))
}
