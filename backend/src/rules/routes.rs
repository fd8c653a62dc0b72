//! `/api/v1/applications/{id}/rules`, `/api/v1/rules/*`, runs and script jobs.

use super::service;
use crate::auth::{Auth, Member};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use common::api::{
    CreateRuleRequest, JobResponse, Page, PageQuery, RuleResponse, RunResponse, UpdateRuleRequest,
};
use common::{ApplianceId, ApplicationId, JobId, Problem, RuleId, RunId};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_rules)
        .service(create_rule)
        .service(get_rule)
        .service(update_rule)
        .service(delete_rule)
        .service(list_rule_runs)
        .service(list_application_runs)
        .service(get_run)
        .service(list_appliance_jobs)
        .service(get_job);
}

/// An application's event rules (its default load-balancer wiring included).
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<RuleResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/applications/{application_id}/rules")]
async fn list_rules(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RuleResponse>>> {
    Ok(web::Json(
        service::list(&state, &a, *application_id, &q).await?,
    ))
}

/// Add an event rule: an event type, a filter, a cooldown and a chain of steps.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), request_body = CreateRuleRequest,
    responses((status = 201, body = RuleResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/applications/{application_id}/rules")]
async fn create_rule(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
    body: crate::body::Body<CreateRuleRequest>,
) -> ApiResult<HttpResponse> {
    let created = service::create(&state, &a, *application_id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// One event rule.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = RuleResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/rules/{rule_id}")]
async fn get_rule(
    a: Auth<Member>,
    state: web::Data<AppState>,
    rule_id: web::Path<RuleId>,
) -> ApiResult<web::Json<RuleResponse>> {
    Ok(web::Json(service::get(&state, &a, *rule_id).await?))
}

/// Change an event rule (runs under way keep the chain they started with).
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), request_body = UpdateRuleRequest,
    responses((status = 200, body = RuleResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[patch("/rules/{rule_id}")]
async fn update_rule(
    a: Auth<Member>,
    state: web::Data<AppState>,
    rule_id: web::Path<RuleId>,
    body: crate::body::Body<UpdateRuleRequest>,
) -> ApiResult<web::Json<RuleResponse>> {
    Ok(web::Json(
        service::update(&state, &a, *rule_id, body.into_inner()).await?,
    ))
}

/// Remove an event rule (its runs stay in the history).
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 204, description = "Removed"), Unauthenticated, Forbidden, NotFound))]
#[delete("/rules/{rule_id}")]
async fn delete_rule(
    a: Auth<Member>,
    state: web::Data<AppState>,
    rule_id: web::Path<RuleId>,
) -> ApiResult<HttpResponse> {
    service::delete(&state, &a, *rule_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The runs of a rule, newest first.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<RunResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/rules/{rule_id}/runs")]
async fn list_rule_runs(
    a: Auth<Member>,
    state: web::Data<AppState>,
    rule_id: web::Path<RuleId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RunResponse>>> {
    Ok(web::Json(
        service::runs(&state, &a, None, Some(*rule_id), &q).await?,
    ))
}

/// The runs of an application's rules, newest first.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<RunResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/applications/{application_id}/runs")]
async fn list_application_runs(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RunResponse>>> {
    Ok(web::Json(
        service::runs(&state, &a, Some(*application_id), None, &q).await?,
    ))
}

/// One run with its steps' status, output and timing.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = RunResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/runs/{run_id}")]
async fn get_run(
    a: Auth<Member>,
    state: web::Data<AppState>,
    run_id: web::Path<RunId>,
) -> ApiResult<web::Json<RunResponse>> {
    Ok(web::Json(service::run(&state, &a, *run_id).await?))
}

/// The CloudScript jobs of an appliance (install scripts, rule steps, runs by hand), newest first.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<JobResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/appliances/{appliance_id}/jobs")]
async fn list_appliance_jobs(
    a: Auth<Member>,
    state: web::Data<AppState>,
    appliance_id: web::Path<ApplianceId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<JobResponse>>> {
    Ok(web::Json(
        service::appliance_jobs(&state, &a, *appliance_id, &q).await?,
    ))
}

/// One CloudScript job: the rendered script (secrets masked), its exit code and output.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = JobResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/jobs/{job_id}")]
async fn get_job(
    a: Auth<Member>,
    state: web::Data<AppState>,
    job_id: web::Path<JobId>,
) -> ApiResult<web::Json<JobResponse>> {
    Ok(web::Json(service::job(&state, &a, *job_id).await?))
}
