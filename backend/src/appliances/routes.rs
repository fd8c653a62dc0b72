//! `/api/v1/applications/{id}/appliances`, `/api/v1/applications/{id}/events`, `/api/v1/appliances/*`.

use super::service as appliances;
use crate::auth::{Admin, Auth, Member};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, get, post, web};
use common::api::{ApplianceResponse, EventResponse, Page, PageQuery, TransitionResponse};
use common::{ApplianceId, ApplicationId, Problem};
use serde::Deserialize;
use store::Target;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_appliances)
        .service(list_events)
        .service(list_tenant_events)
        .service(get_appliance)
        .service(list_transitions)
        .service(stop_appliance)
        .service(start_appliance)
        .service(reboot_appliance)
        .service(terminate_appliance);
}

/// Filters of the appliance list. Other query parameters are ignored.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ApplianceQuery {
    /// How many items to return (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (empty: the first page).
    #[param(
        max_length = 86,
        pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$"
    )]
    cursor: Option<String>,
    /// Include terminated appliances (default false).
    #[serde(default)]
    terminated: bool,
}

/// The appliances of an application (live ones unless `terminated=true`).
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])), params(ApplianceQuery),
    responses((status = 200, body = Page<ApplianceResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/applications/{application_id}/appliances")]
async fn list_appliances(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
    q: web::Query<ApplianceQuery>,
) -> ApiResult<web::Json<Page<ApplianceResponse>>> {
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    Ok(web::Json(
        appliances::list_appliances(&state, &a, *application_id, q.terminated, &page).await?,
    ))
}

/// The domain events of an application (`appliance.came_alive`, `placement.failed`, `host.lost`, …).
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<EventResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/applications/{application_id}/events")]
async fn list_events(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<EventResponse>>> {
    Ok(web::Json(
        appliances::events(&state, &a, *application_id, &q).await?,
    ))
}

/// My tenant's domain events; for operators, the provider's (`host.lost`, `orchestrator.unknown_domain`, …).
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin"])), params(PageQuery),
    responses((status = 200, body = Page<EventResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/events")]
async fn list_tenant_events(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<EventResponse>>> {
    let page = crate::pagination::request(&q)?;
    let tenant = a.tenant_id;
    let p = state
        .store
        .read(move |c| store::repo::events::list(c, tenant, None, &page))
        .await?;
    Ok(web::Json(crate::pagination::respond(p)))
}

/// One appliance, with its last metrics.
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = ApplianceResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/appliances/{appliance_id}")]
async fn get_appliance(
    a: Auth<Member>,
    state: web::Data<AppState>,
    appliance_id: web::Path<ApplianceId>,
) -> ApiResult<web::Json<ApplianceResponse>> {
    Ok(web::Json(
        appliances::get_appliance(&state, &a, *appliance_id).await?,
    ))
}

/// Every state transition of an appliance, oldest first.
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<TransitionResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/appliances/{appliance_id}/transitions")]
async fn list_transitions(
    a: Auth<Member>,
    state: web::Data<AppState>,
    appliance_id: web::Path<ApplianceId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<TransitionResponse>>> {
    Ok(web::Json(
        appliances::transitions(&state, &a, *appliance_id, &q).await?,
    ))
}

async fn act(
    a: &Auth<Member>,
    state: &AppState,
    id: ApplianceId,
    t: Target,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted().json(appliances::set_target(state, a, id, t).await?))
}

/// Stop an appliance (graceful shutdown, then power-off after a timeout).
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 202, description = "Stopping", body = ApplianceResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Not in a state that can stop", body = Problem, content_type = "application/problem+json")))]
#[post("/appliances/{appliance_id}/stop")]
async fn stop_appliance(
    a: Auth<Member>,
    state: web::Data<AppState>,
    appliance_id: web::Path<ApplianceId>,
) -> ApiResult<HttpResponse> {
    act(&a, &state, *appliance_id, Target::Stop).await
}

/// Start a stopped appliance.
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 202, description = "Starting", body = ApplianceResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Not stopped", body = Problem, content_type = "application/problem+json")))]
#[post("/appliances/{appliance_id}/start")]
async fn start_appliance(
    a: Auth<Member>,
    state: web::Data<AppState>,
    appliance_id: web::Path<ApplianceId>,
) -> ApiResult<HttpResponse> {
    act(&a, &state, *appliance_id, Target::Run).await
}

/// Reboot a running appliance.
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 202, description = "Rebooting", body = ApplianceResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Not running", body = Problem, content_type = "application/problem+json")))]
#[post("/appliances/{appliance_id}/reboot")]
async fn reboot_appliance(
    a: Auth<Member>,
    state: web::Data<AppState>,
    appliance_id: web::Path<ApplianceId>,
) -> ApiResult<HttpResponse> {
    act(&a, &state, *appliance_id, Target::Reboot).await
}

/// Terminate an appliance (its group replaces it unless its desired count is lowered).
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 202, description = "Terminating", body = ApplianceResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Already terminated", body = Problem, content_type = "application/problem+json")))]
#[post("/appliances/{appliance_id}/terminate")]
async fn terminate_appliance(
    a: Auth<Member>,
    state: web::Data<AppState>,
    appliance_id: web::Path<ApplianceId>,
) -> ApiResult<HttpResponse> {
    act(&a, &state, *appliance_id, Target::Terminate).await
}
