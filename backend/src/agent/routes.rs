//! The agent endpoints: announce, heartbeat, metrics, jobs, custom events.

use crate::error::{ApiError, ApiResult};
use crate::openapi::{Invalid, Unauthenticated};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use common::Problem;
use common::agent::{
    AnnounceRequest, AnnounceResponse, EventRequest, EventResponse, HeartbeatRequest, JobResult,
    JobsResponse, MetricsReport,
};
use orchestrator::agent_api::AgentEndpoint;
use std::future::{Ready, ready};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(announce)
        .service(heartbeat)
        .service(metrics)
        .service(jobs)
        .service(report_job)
        .service(post_event);
}

/// The agent token of the request.
pub struct AgentToken(String);

impl FromRequest for AgentToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    /// The token must be genuine before anything else of the request is looked at.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let genuine = |t: &str| {
            req.app_data::<web::Data<AppState>>()
                .is_some_and(|s| s.agent.key.verify(t).is_some())
        };
        ready(match token {
            Some(t) if genuine(&t) => Ok(AgentToken(t)),
            Some(_) => Err(ApiError::Unauthenticated("invalid agent token")),
            None => Err(ApiError::Unauthenticated(
                "send the appliance's agent token as `Authorization: Bearer …`",
            )),
        })
    }
}

/// The appliance's agent announces itself: the appliance came alive.
#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = AnnounceRequest,
    responses((status = 200, body = AnnounceResponse), Unauthenticated,
        (status = 410, description = "The appliance is terminated", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/announce")]
async fn announce(
    token: AgentToken,
    state: web::Data<AppState>,
    body: crate::body::Body<AnnounceRequest>,
) -> ApiResult<web::Json<AnnounceResponse>> {
    Ok(web::Json(
        state.agent.announce(&token.0, body.into_inner()).await?,
    ))
}

/// The agent is alive.
#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = HeartbeatRequest,
    responses((status = 204, description = "Recorded"), Unauthenticated,
        (status = 410, description = "The appliance is terminated", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/heartbeat")]
async fn heartbeat(
    token: AgentToken,
    state: web::Data<AppState>,
    body: crate::body::Body<HeartbeatRequest>,
) -> ApiResult<HttpResponse> {
    state.agent.heartbeat(&token.0, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The agent reports metrics.
#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = MetricsReport,
    responses((status = 204, description = "Recorded"), Unauthenticated,
        (status = 410, description = "The appliance is terminated", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/metrics")]
async fn metrics(
    token: AgentToken,
    state: web::Data<AppState>,
    body: crate::body::Body<MetricsReport>,
) -> ApiResult<HttpResponse> {
    state.agent.metrics(&token.0, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The agent pulls its jobs (CloudScripts).
#[utoipa::path(tag = "agent", security(("agent" = [])),
    responses((status = 200, body = JobsResponse), Unauthenticated,
        (status = 410, description = "The appliance is terminated", body = Problem, content_type = "application/problem+json")))]
#[get("/jobs")]
async fn jobs(token: AgentToken, state: web::Data<AppState>) -> ApiResult<web::Json<JobsResponse>> {
    Ok(web::Json(state.agent.jobs(&token.0).await?))
}

/// The agent reports how a job ended (exit code, bounded output). A job reported twice keeps its
/// first result.
#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = JobResult,
    responses((status = 204, description = "Recorded"), Unauthenticated,
        (status = 404, description = "This appliance has no such job", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The appliance is terminated", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/jobs/{job_id}/result")]
async fn report_job(
    token: AgentToken,
    state: web::Data<AppState>,
    job_id: web::Path<common::JobId>,
    body: crate::body::ScriptBody<JobResult>,
) -> ApiResult<HttpResponse> {
    if state
        .agent
        .report(&token.0, *job_id, body.into_inner())
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

/// A script posts a custom event through its appliance's agent (`scaleinfra-agent emit <name>
/// [detail]`): recorded as `custom.<name>` about the appliance, for its application's rules. Only
/// while the appliance configures or runs; at most 10 in a burst per appliance, then one every 6 s
/// (429 with `Retry-After`), counted apart from the agent's other calls.
#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = EventRequest,
    responses((status = 202, description = "Recorded", body = EventResponse), Unauthenticated,
        (status = 409, description = "The appliance is not up (configuring or running)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The appliance is terminated", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many events", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/events")]
async fn post_event(
    token: AgentToken,
    state: web::Data<AppState>,
    body: crate::body::Body<EventRequest>,
) -> ApiResult<HttpResponse> {
    let recorded = state.agent.event(&token.0, body.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(recorded))
}
