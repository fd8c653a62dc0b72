//! `/api/v1/audit`.

use crate::auth::{Admin, Auth};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, Unauthenticated};
use crate::pagination;
use crate::state::AppState;
use actix_web::{get, web};
use common::Role;
use common::api::{AuditEntryResponse, Page, PageQuery};
use store::repo::audit;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit);
}

/// The audit log, oldest first: my tenant's for admins, every tenant's for operators.
#[utoipa::path(tag = "audit", security(("bearer" = ["operator", "admin"])), params(PageQuery),
    responses((status = 200, body = Page<AuditEntryResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/audit")]
async fn list_audit(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<AuditEntryResponse>>> {
    let page = pagination::request(&q)?;
    let scope = (auth.role != Role::Operator).then_some(auth.tenant_id);
    let p = state
        .store
        .read(move |c| audit::list(c, scope, &page))
        .await?;
    // a customer sees provider staff as their role, never as a person
    Ok(web::Json(pagination::respond_map(p, |e| match scope {
        Some(reader) => e.seen_by(reader).into(),
        None => e.into(),
    })))
}
