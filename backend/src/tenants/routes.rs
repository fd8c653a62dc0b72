//! `/api/v1/tenants/*` (operators only).

use super::service;
use crate::auth::{Auth, Operator};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use common::api::{
    CreateTenantRequest, CreatedTenantResponse, Page, PageQuery, ProjectResponse, TenantResponse,
    UpdateTenantRequest, UserResponse,
};
use common::{Problem, TenantId, TenantStatus};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_tenants)
        .service(create_tenant)
        .service(get_tenant)
        .service(update_tenant)
        .service(delete_tenant)
        .service(suspend_tenant)
        .service(reactivate_tenant)
        .service(list_tenant_users)
        .service(list_tenant_projects);
}

/// List all tenants.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])), params(PageQuery),
    responses((status = 200, body = Page<TenantResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/tenants")]
async fn list_tenants(
    _auth: Auth<Operator>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<TenantResponse>>> {
    Ok(web::Json(service::list(&state, &q).await?))
}

/// Create a customer tenant with its first admin.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])), request_body = CreateTenantRequest,
    responses((status = 201, body = CreatedTenantResponse), Unauthenticated, Forbidden,
        (status = 409, description = "Slug or admin email taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/tenants")]
async fn create_tenant(
    auth: Auth<Operator>,
    state: web::Data<AppState>,
    body: crate::body::Body<CreateTenantRequest>,
) -> ApiResult<HttpResponse> {
    let created = service::create(&state, &auth, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// One tenant.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])),
    responses((status = 200, body = TenantResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/tenants/{tenant_id}")]
async fn get_tenant(
    _auth: Auth<Operator>,
    state: web::Data<AppState>,
    tenant_id: web::Path<TenantId>,
) -> ApiResult<web::Json<TenantResponse>> {
    Ok(web::Json(service::get(&state, *tenant_id).await?))
}

/// Rename a tenant or change its quotas.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])), request_body = UpdateTenantRequest,
    responses((status = 200, body = TenantResponse), Unauthenticated, Forbidden, NotFound, Invalid))]
#[patch("/tenants/{tenant_id}")]
async fn update_tenant(
    auth: Auth<Operator>,
    state: web::Data<AppState>,
    tenant_id: web::Path<TenantId>,
    body: crate::body::Body<UpdateTenantRequest>,
) -> ApiResult<web::Json<TenantResponse>> {
    Ok(web::Json(
        service::update(&state, &auth, *tenant_id, body.into_inner()).await?,
    ))
}

/// Delete a customer tenant and everything it owns.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "The provider tenant, or applications still deployed", body = Problem, content_type = "application/problem+json")))]
#[delete("/tenants/{tenant_id}")]
async fn delete_tenant(
    auth: Auth<Operator>,
    state: web::Data<AppState>,
    tenant_id: web::Path<TenantId>,
) -> ApiResult<HttpResponse> {
    service::delete(&state, &auth, *tenant_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Suspend a customer tenant: its users cannot log in and their tokens stop working at once.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])),
    responses((status = 200, body = TenantResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "The provider tenant, or applications still deployed", body = Problem, content_type = "application/problem+json")))]
#[post("/tenants/{tenant_id}/suspend")]
async fn suspend_tenant(
    auth: Auth<Operator>,
    state: web::Data<AppState>,
    tenant_id: web::Path<TenantId>,
) -> ApiResult<web::Json<TenantResponse>> {
    Ok(web::Json(
        service::set_status(&state, &auth, *tenant_id, TenantStatus::Suspended).await?,
    ))
}

/// Reactivate a suspended tenant.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])),
    responses((status = 200, body = TenantResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "The provider tenant, or applications still deployed", body = Problem, content_type = "application/problem+json")))]
#[post("/tenants/{tenant_id}/reactivate")]
async fn reactivate_tenant(
    auth: Auth<Operator>,
    state: web::Data<AppState>,
    tenant_id: web::Path<TenantId>,
) -> ApiResult<web::Json<TenantResponse>> {
    Ok(web::Json(
        service::set_status(&state, &auth, *tenant_id, TenantStatus::Active).await?,
    ))
}

/// The users of a tenant.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])), params(PageQuery),
    responses((status = 200, body = Page<UserResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/tenants/{tenant_id}/users")]
async fn list_tenant_users(
    _auth: Auth<Operator>,
    state: web::Data<AppState>,
    tenant_id: web::Path<TenantId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<UserResponse>>> {
    Ok(web::Json(
        service::list_users(&state, *tenant_id, &q).await?,
    ))
}

/// The projects of a tenant.
#[utoipa::path(tag = "tenants", security(("bearer" = ["operator"])), params(PageQuery),
    responses((status = 200, body = Page<ProjectResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/tenants/{tenant_id}/projects")]
async fn list_tenant_projects(
    _auth: Auth<Operator>,
    state: web::Data<AppState>,
    tenant_id: web::Path<TenantId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ProjectResponse>>> {
    Ok(web::Json(
        service::list_projects(&state, *tenant_id, &q).await?,
    ))
}
