//! `/api/v1/templates/*`. Rules are few enough to live here: operators add global templates, admins
//! private ones; everyone who works on projects sees the global ones and their tenant's.

use crate::auth::{Admin, Auth, Member};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::pagination;
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use common::api::{CreateTemplateRequest, Page, PageQuery, TemplateResponse};
use common::{Problem, Role, TemplateId, TenantId};
use serde_json::json;
use store::Template;
use store::repo::{audit, templates};
use store::time::now;
use validator::Validate;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_templates)
        .service(create_template)
        .service(get_template)
        .service(delete_template);
}

/// Whose template a caller creates: operators make global ones, admins their tenant's.
fn owner(role: Role, tenant: TenantId) -> Option<TenantId> {
    (role != Role::Operator).then_some(tenant)
}

/// The catalog I can use: global templates and my tenant's.
#[utoipa::path(tag = "catalog", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<TemplateResponse>), Unauthenticated, Forbidden))]
#[get("/templates")]
async fn list_templates(
    a: Auth<Member>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<TemplateResponse>>> {
    let page = pagination::request(&q)?;
    let tenant = a.tenant_id;
    let p = state
        .store
        .read(move |c| templates::list_visible(c, tenant, &page))
        .await?;
    Ok(web::Json(pagination::respond(p)))
}

/// Add a template: global for operators, private to the tenant for admins.
#[utoipa::path(tag = "catalog", security(("bearer" = ["operator", "admin"])), request_body = CreateTemplateRequest,
    responses((status = 201, body = TemplateResponse), Unauthenticated, Forbidden,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/templates")]
async fn create_template(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    body: web::Json<CreateTemplateRequest>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    req.validate()?;
    common::validate::name(&req.name)
        .map_err(|_| ApiError::field("name", "blank", "must not be blank"))?;
    let t = Template {
        id: TemplateId::new(),
        tenant_id: owner(a.role, a.tenant_id),
        name: req.name.trim().to_owned(),
        role: req.role,
        description: req.description,
        base_image: req.base_image,
        kernel: req.kernel,
        initrd: req.initrd,
        flavor: req.flavor,
        ports: req.ports,
        install_scripts: req.install_scripts,
        metrics: req.metrics,
        created_at: now(),
    };
    let (tenant, actor) = (a.tenant_id, a.actor());
    let created = state
        .store
        .write(move |c| -> ApiResult<TemplateResponse> {
            templates::insert(c, &t)?;
            audit::record(
                c,
                tenant,
                &actor,
                "template.create",
                "template",
                &t.id.to_string(),
                json!({"name": t.name, "global": t.tenant_id.is_none()}),
            )?;
            Ok(t.into())
        })
        .await?;
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
    let (tenant, id) = (a.tenant_id, *template_id);
    let t = state
        .store
        .read(move |c| templates::get_visible(c, tenant, id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(web::Json(t.into()))
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
    let (tenant, actor, id, own) = (
        a.tenant_id,
        a.actor(),
        *template_id,
        owner(a.role, a.tenant_id),
    );
    state
        .store
        .write(move |c| -> ApiResult<()> {
            let t = templates::get_visible(c, tenant, id)?.ok_or(ApiError::NotFound)?;
            if t.tenant_id != own {
                // a global template seen by an admin: visible, not theirs to delete
                return Err(ApiError::Forbidden);
            }
            if templates::in_use(c, id)? {
                return Err(ApiError::InvalidState {
                    code: "template_in_use",
                    detail: "groups still use this template".into(),
                });
            }
            templates::delete(c, own, id)?;
            audit::record(
                c,
                tenant,
                &actor,
                "template.delete",
                "template",
                &id.to_string(),
                json!({}),
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
