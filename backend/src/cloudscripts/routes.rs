//! `/api/v1/cloudscripts/*`.

use super::service;
use crate::auth::{Admin, Auth, Member};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use common::api::{
    CreateScriptRequest, JobResponse, Page, PageQuery, RenderRequest, RenderResponse,
    RunScriptRequest, ScriptResponse, ScriptVersionRequest, ScriptVersionResponse,
};
use common::{Problem, ScriptId};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_scripts)
        .service(create_script)
        .service(get_script)
        .service(delete_script)
        .service(list_versions)
        .service(add_version)
        .service(get_version)
        .service(render_script)
        .service(run_script);
}

/// The tenant's CloudScripts and the provider's library (operators: the library).
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<ScriptResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/cloudscripts")]
async fn list_scripts(
    a: Auth<Member>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ScriptResponse>>> {
    Ok(web::Json(service::list(&state, &a, &q).await?))
}

/// Create a CloudScript (its version 1): admins for their tenant (its scripts run in every project, so
/// users use them but do not change them), operators for the provider's library. A tenant script
/// may not take a library script's name.
///
/// The body is a minijinja template over `{tenant, project, app, layers, layer, group, appliance,
/// event, vars, now}` and `layer(name)`; a name it uses that the context does not give, a variable
/// it does not declare, or a syntax error is refused with its line.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin"])), request_body = CreateScriptRequest,
    responses((status = 201, body = ScriptResponse), Unauthenticated, Forbidden,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/cloudscripts")]
async fn create_script(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    body: crate::body::ScriptBody<CreateScriptRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&state, &a, body.into_inner()).await?))
}

/// One CloudScript with its latest version.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = ScriptResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/cloudscripts/{script_id}")]
async fn get_script(
    a: Auth<Member>,
    state: web::Data<AppState>,
    script_id: web::Path<ScriptId>,
) -> ApiResult<web::Json<ScriptResponse>> {
    Ok(web::Json(service::get(&state, &a, *script_id).await?))
}

/// Delete a CloudScript and its versions; refused while rules run it or templates install with it.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Rules or templates use the script", body = Problem, content_type = "application/problem+json")))]
#[delete("/cloudscripts/{script_id}")]
async fn delete_script(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    script_id: web::Path<ScriptId>,
) -> ApiResult<HttpResponse> {
    service::delete(&state, &a, *script_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every version of a CloudScript, oldest first.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = Vec<ScriptVersionResponse>), Unauthenticated, Forbidden, NotFound))]
#[get("/cloudscripts/{script_id}/versions")]
async fn list_versions(
    a: Auth<Member>,
    state: web::Data<AppState>,
    script_id: web::Path<ScriptId>,
) -> ApiResult<web::Json<Vec<ScriptVersionResponse>>> {
    Ok(web::Json(service::versions(&state, &a, *script_id).await?))
}

/// Save a new version (earlier versions stay as they were, for rules that pin them).
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin"])), request_body = ScriptVersionRequest,
    responses((status = 201, body = ScriptResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Another version was saved meanwhile", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/cloudscripts/{script_id}/versions")]
async fn add_version(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    script_id: web::Path<ScriptId>,
    body: crate::body::ScriptBody<ScriptVersionRequest>,
) -> ApiResult<HttpResponse> {
    let saved = service::add_version(&state, &a, *script_id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(saved))
}

/// One version of a CloudScript.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])),
    params(("version" = u32, Path, description = "The version number")),
    responses((status = 200, body = ScriptVersionResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/cloudscripts/{script_id}/versions/{version}")]
async fn get_version(
    a: Auth<Member>,
    state: web::Data<AppState>,
    path: web::Path<(ScriptId, u32)>,
) -> ApiResult<web::Json<ScriptVersionResponse>> {
    let (id, v) = path.into_inner();
    Ok(web::Json(service::version(&state, &a, id, v).await?))
}

/// Render a CloudScript against an appliance's context without running it (secrets masked).
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), request_body = RenderRequest,
    responses((status = 200, body = RenderResponse), Unauthenticated, Forbidden, NotFound, Invalid))]
#[post("/cloudscripts/{script_id}/render")]
async fn render_script(
    a: Auth<Member>,
    state: web::Data<AppState>,
    script_id: web::Path<ScriptId>,
    body: crate::body::Body<RenderRequest>,
) -> ApiResult<web::Json<RenderResponse>> {
    Ok(web::Json(
        service::preview(&state, &a, *script_id, body.into_inner()).await?,
    ))
}

/// Run a CloudScript now on appliances of one application; their agents pull the jobs.
#[utoipa::path(tag = "automation", security(("bearer" = ["operator", "admin", "user"])), request_body = RunScriptRequest,
    responses((status = 202, body = Vec<JobResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[post("/cloudscripts/{script_id}/run")]
async fn run_script(
    a: Auth<Member>,
    state: web::Data<AppState>,
    script_id: web::Path<ScriptId>,
    body: crate::body::Body<RunScriptRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted()
        .json(service::run(&state, &a, *script_id, body.into_inner()).await?))
}
