//! `/api/v1/pools/*`, `/api/v1/hosts/*` and `/api/v1/sim/*` (operators only).

use super::service;
use crate::auth::{Auth, Operator};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use common::api::{
    AddressResponse, CreateHostRequest, CreatePoolRequest, HostResponse, Page, PageQuery,
    PoolResponse, SimFaults, UpdateHostRequest, UpdatePoolRequest,
};
use common::{ApplianceId, HostId, PoolId, Problem};
use validator::Validate;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_pools)
        .service(create_pool)
        .service(get_pool)
        .service(update_pool)
        .service(delete_pool)
        .service(list_addresses)
        .service(list_hosts)
        .service(create_host)
        .service(get_host)
        .service(update_host)
        .service(delete_host)
        .service(kill_host)
        .service(revive_host)
        .service(kill_appliance)
        .service(get_faults)
        .service(set_faults);
}

/// Compute pools.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), params(PageQuery),
    responses((status = 200, body = Page<PoolResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/pools")]
async fn list_pools(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<PoolResponse>>> {
    Ok(web::Json(service::list_pools(&state, &q).await?))
}

/// Create a compute pool.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), request_body = CreatePoolRequest,
    responses((status = 201, body = PoolResponse), Unauthenticated, Forbidden,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/pools")]
async fn create_pool(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    body: crate::body::Body<CreatePoolRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create_pool(&state, &a, body.into_inner()).await?))
}

/// One compute pool.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])),
    responses((status = 200, body = PoolResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/pools/{pool_id}")]
async fn get_pool(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    pool_id: web::Path<PoolId>,
) -> ApiResult<web::Json<PoolResponse>> {
    Ok(web::Json(service::get_pool(&state, *pool_id).await?))
}

/// Rename a pool, change its placement strategy, overcommit, image directory or guest network (refused
/// while appliances hold addresses of it).
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), request_body = UpdatePoolRequest,
    responses((status = 200, body = PoolResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[patch("/pools/{pool_id}")]
async fn update_pool(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    pool_id: web::Path<PoolId>,
    body: crate::body::Body<UpdatePoolRequest>,
) -> ApiResult<web::Json<PoolResponse>> {
    Ok(web::Json(
        service::update_pool(&state, &a, *pool_id, body.into_inner()).await?,
    ))
}

/// The addresses of a pool's guest network that appliances hold (IPAM), in address order.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), params(PageQuery),
    responses((status = 200, body = Page<AddressResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/pools/{pool_id}/addresses")]
async fn list_addresses(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    pool_id: web::Path<PoolId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<AddressResponse>>> {
    Ok(web::Json(
        service::list_addresses(&state, *pool_id, &q).await?,
    ))
}

/// Delete an empty pool.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "The pool has hosts", body = Problem, content_type = "application/problem+json")))]
#[delete("/pools/{pool_id}")]
async fn delete_pool(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    pool_id: web::Path<PoolId>,
) -> ApiResult<HttpResponse> {
    service::delete_pool(&state, &a, *pool_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The hosts of a pool, with what their appliances use.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), params(PageQuery),
    responses((status = 200, body = Page<HostResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/pools/{pool_id}/hosts")]
async fn list_hosts(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    pool_id: web::Path<PoolId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<HostResponse>>> {
    Ok(web::Json(service::list_hosts(&state, *pool_id, &q).await?))
}

/// Add a KVM host (a libvirt URI, or `sim://NAME` in the simulated pool).
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), request_body = CreateHostRequest,
    responses((status = 201, body = HostResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name or URI taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/pools/{pool_id}/hosts")]
async fn create_host(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    pool_id: web::Path<PoolId>,
    body: crate::body::Body<CreateHostRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created()
        .json(service::create_host(&state, &a, *pool_id, body.into_inner()).await?))
}

/// One host.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])),
    responses((status = 200, body = HostResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/hosts/{host_id}")]
async fn get_host(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    host_id: web::Path<HostId>,
) -> ApiResult<web::Json<HostResponse>> {
    Ok(web::Json(service::get_host(&state, *host_id).await?))
}

/// Change a host's capacity or labels, or put it in maintenance, fence it, or return it to service.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), request_body = UpdateHostRequest,
    responses((status = 200, body = HostResponse), Unauthenticated, Forbidden, NotFound, Invalid))]
#[patch("/hosts/{host_id}")]
async fn update_host(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    host_id: web::Path<HostId>,
    body: crate::body::Body<UpdateHostRequest>,
) -> ApiResult<web::Json<HostResponse>> {
    Ok(web::Json(
        service::update_host(&state, &a, *host_id, body.into_inner()).await?,
    ))
}

/// Remove a host that holds no appliances.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Appliances run on it", body = Problem, content_type = "application/problem+json")))]
#[delete("/hosts/{host_id}")]
async fn delete_host(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    host_id: web::Path<HostId>,
) -> ApiResult<HttpResponse> {
    service::delete_host(&state, &a, *host_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn sim(state: &AppState) -> ApiResult<&orchestrator::SimCloud> {
    state.sim.as_deref().ok_or(ApiError::InvalidState {
        code: "no_sim",
        detail: "this installation runs no simulated pool".into(),
    })
}

async fn sim_host_name(state: &AppState, id: HostId) -> ApiResult<String> {
    let h = state
        .store
        .read(move |c| store::repo::hosts::get(c, id))
        .await?
        .ok_or(ApiError::NotFound)?;
    h.uri
        .strip_prefix("sim://")
        .map(str::to_owned)
        .ok_or(ApiError::InvalidState {
            code: "not_simulated",
            detail: "the host is not simulated".into(),
        })
}

/// Simulated pool: the host stops answering and its appliances die with it.
#[utoipa::path(tag = "sim", security(("bearer" = ["operator"])),
    responses((status = 204, description = "Killed"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "No simulated pool, or a real host", body = Problem, content_type = "application/problem+json")))]
#[post("/sim/hosts/{host_id}/kill")]
async fn kill_host(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    host_id: web::Path<HostId>,
) -> ApiResult<HttpResponse> {
    let sim = sim(&state)?;
    let name = sim_host_name(&state, *host_id).await?;
    sim.kill_host(&name);
    Ok(HttpResponse::NoContent().finish())
}

/// Simulated pool: the host answers again, freshly rebooted (empty).
#[utoipa::path(tag = "sim", security(("bearer" = ["operator"])),
    responses((status = 204, description = "Revived"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "No simulated pool, or a real host", body = Problem, content_type = "application/problem+json")))]
#[post("/sim/hosts/{host_id}/revive")]
async fn revive_host(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    host_id: web::Path<HostId>,
) -> ApiResult<HttpResponse> {
    let sim = sim(&state)?;
    let name = sim_host_name(&state, *host_id).await?;
    sim.revive_host(&name);
    Ok(HttpResponse::NoContent().finish())
}

/// Simulated pool: an appliance's domain crashes.
#[utoipa::path(tag = "sim", security(("bearer" = ["operator"])),
    responses((status = 204, description = "Killed"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "No simulated pool", body = Problem, content_type = "application/problem+json")))]
#[post("/sim/appliances/{appliance_id}/kill")]
async fn kill_appliance(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    appliance_id: web::Path<ApplianceId>,
) -> ApiResult<HttpResponse> {
    let sim = sim(&state)?;
    let id = *appliance_id;
    let a = state
        .store
        .read(move |c| store::repo::unscoped::appliances::get(c, id))
        .await?
        .ok_or(ApiError::NotFound)?;
    if !sim.kill_domain(&a.domain_name()) {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Simulated pool: the faults injected now.
#[utoipa::path(tag = "sim", security(("bearer" = ["operator"])),
    responses((status = 200, body = SimFaults), Unauthenticated, Forbidden,
        (status = 409, description = "No simulated pool", body = Problem, content_type = "application/problem+json")))]
#[get("/sim/faults")]
async fn get_faults(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<SimFaults>> {
    let f = sim(&state)?.faults();
    Ok(web::Json(SimFaults {
        fail_boots: f.fail_boots,
        fail_scripts: f.fail_scripts,
        hang_scripts: f.hang_scripts,
        slow: f.slow,
    }))
}

/// Simulated pool: fail boots, slow everything down.
#[utoipa::path(tag = "sim", security(("bearer" = ["operator"])), request_body = SimFaults,
    responses((status = 200, body = SimFaults), Unauthenticated, Forbidden,
        (status = 409, description = "No simulated pool", body = Problem, content_type = "application/problem+json"), Invalid))]
#[put("/sim/faults")]
async fn set_faults(
    _a: Auth<Operator>,
    state: web::Data<AppState>,
    body: crate::body::Body<SimFaults>,
) -> ApiResult<web::Json<SimFaults>> {
    body.validate()?;
    sim(&state)?.set_faults(orchestrator::Faults {
        fail_boots: body.fail_boots,
        fail_scripts: body.fail_scripts,
        hang_scripts: body.hang_scripts,
        slow: body.slow,
    });
    Ok(web::Json(body.into_inner()))
}
