//! `/api/v1/templates/*`: the appliance catalog (rules in `service.rs`).

use super::service;
use crate::auth::{Admin, Auth, Member};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use common::api::{CreateTemplateRequest, Page, PageQuery, TemplateResponse};
use common::{Problem, TemplateId};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_templates)
        .service(create_template)
        .service(get_template)
        .service(delete_template);
}

/// The catalog I can use: global templates and my tenant's.
#[utoipa::path(tag = "catalog", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<TemplateResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/templates")]
async fn list_templates(
    a: Auth<Member>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<TemplateResponse>>> {
    Ok(web::Json(service::list(&state, &a, &q).await?))
}

/// Add a template: global for operators, private to the tenant for admins.
///
/// It boots from registered images (see `GET /images`), never from a host path.
#[utoipa::path(tag = "catalog", security(("bearer" = ["operator", "admin"])), request_body = CreateTemplateRequest,
    responses((status = 201, body = TemplateResponse), Unauthenticated, Forbidden,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/templates")]
async fn create_template(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    body: crate::body::Body<CreateTemplateRequest>,
) -> ApiResult<HttpResponse> {
    let created = service::create(&state, &a, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// One template I can use.
#[utoipa::path(tag = "catalog", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = TemplateResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/templates/{template_id}")]
async fn get_template(
    a: Auth<Member>,
    state: web::Data<AppState>,
    template_id: web::Path<TemplateId>,
) -> ApiResult<web::Json<TemplateResponse>> {
    Ok(web::Json(service::get(&state, &a, *template_id).await?))
}

/// Delete a template I own (operators: a global one) that no group uses.
#[utoipa::path(tag = "catalog", security(("bearer" = ["operator", "admin"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "In use", body = Problem, content_type = "application/problem+json")))]
#[delete("/templates/{template_id}")]
async fn delete_template(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    template_id: web::Path<TemplateId>,
) -> ApiResult<HttpResponse> {
    service::delete(&state, &a, *template_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
