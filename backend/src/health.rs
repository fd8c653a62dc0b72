//! `/healthz` (the process answers) and `/readyz` (the database answers and is migrated).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use common::Problem;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

/// Liveness: the process is up.
#[utoipa::path(tag = "ops", security(()), responses((status = 200, description = "Alive", body = String)))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: the database is reachable and its schema is current, and (in a process that runs the
/// orchestrator) its background loops are alive and making progress.
#[utoipa::path(tag = "ops", security(()), responses(
    (status = 200, description = "Ready", body = String),
    (status = 503, description = "Database unreachable or not migrated, or a background loop down", body = Problem, content_type = "application/problem+json")))]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state.store.ping().await.map_err(ApiError::Unavailable)?;
    let store = state.store.clone();
    let pending = actix_web::web::block(move || store::migrate::pending(&store))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::Unavailable)?;
    if pending > 0 {
        return Err(ApiError::Unavailable(store::StoreError::Corrupt(format!(
            "{pending} migrations pending"
        ))));
    }
    if let Some(o) = &state.orchestrator {
        o.ready().map_err(ApiError::NotReady)?;
    }
    state.agent.ready().map_err(ApiError::NotReady)?;
    Ok(HttpResponse::Ok().content_type("text/plain").body("ready"))
}
