//! `/api/v1/projects/{id}/applications`, `/api/v1/applications/*`, `/api/v1/layers/*`, `/api/v1/groups/*`.

use super::{groups, service};
use crate::auth::{Auth, Member};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use common::api::{
    ApplicationResponse, CreateApplicationRequest, CreateGroupRequest, CreateLayerRequest,
    GroupResponse, Page, PageQuery, ScaleGroupRequest, SimLoad, UpdateApplicationRequest,
    UpdateGroupRequest, UpdateLayerRequest,
};
use common::{ApplicationId, GroupId, LayerId, Problem, ProjectId};
use validator::Validate;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_applications)
        .service(create_application)
        .service(get_application)
        .service(update_application)
        .service(delete_application)
        .service(deploy_application)
        .service(undeploy_application)
        .service(create_layer)
        .service(update_layer)
        .service(delete_layer)
        .service(create_group)
        .service(get_group)
        .service(update_group)
        .service(delete_group)
        .service(scale_group)
        .service(set_group_load);
}

/// The applications of a project.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<ApplicationResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/projects/{project_id}/applications")]
async fn list_applications(
    a: Auth<Member>,
    state: web::Data<AppState>,
    project_id: web::Path<ProjectId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ApplicationResponse>>> {
    Ok(web::Json(service::list(&state, &a, *project_id, &q).await?))
}

/// Create an application in a project.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])), request_body = CreateApplicationRequest,
    responses((status = 201, body = ApplicationResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/projects/{project_id}/applications")]
async fn create_application(
    a: Auth<Member>,
    state: web::Data<AppState>,
    project_id: web::Path<ProjectId>,
    body: crate::body::Body<CreateApplicationRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created()
        .json(service::create(&state, &a, *project_id, body.into_inner()).await?))
}

/// An application with its layers and groups.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = ApplicationResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/applications/{application_id}")]
async fn get_application(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
) -> ApiResult<web::Json<ApplicationResponse>> {
    Ok(web::Json(service::get(&state, &a, *application_id).await?))
}

/// Rename or describe an application.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])), request_body = UpdateApplicationRequest,
    responses((status = 200, body = ApplicationResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[patch("/applications/{application_id}")]
async fn update_application(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
    body: crate::body::Body<UpdateApplicationRequest>,
) -> ApiResult<web::Json<ApplicationResponse>> {
    Ok(web::Json(
        service::update(&state, &a, *application_id, body.into_inner()).await?,
    ))
}

/// Delete an undeployed application.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Still deployed", body = Problem, content_type = "application/problem+json")))]
#[delete("/applications/{application_id}")]
async fn delete_application(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
) -> ApiResult<HttpResponse> {
    service::delete(&state, &a, *application_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deploy: the orchestrator creates the groups' appliances in the background.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 202, description = "Deploying", body = ApplicationResponse), Unauthenticated, Forbidden, NotFound,
        (status = 422, description = "A tenant quota would be exceeded", body = Problem, content_type = "application/problem+json")))]
#[post("/applications/{application_id}/deploy")]
async fn deploy_application(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted()
        .json(service::set_deployed(&state, &a, *application_id, true).await?))
}

/// Undeploy: the orchestrator terminates every appliance in the background.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 202, description = "Undeploying", body = ApplicationResponse), Unauthenticated, Forbidden, NotFound))]
#[post("/applications/{application_id}/undeploy")]
async fn undeploy_application(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted()
        .json(service::set_deployed(&state, &a, *application_id, false).await?))
}

/// Add a layer (tier).
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])), request_body = CreateLayerRequest,
    responses((status = 201, body = ApplicationResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/applications/{application_id}/layers")]
async fn create_layer(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
    body: crate::body::Body<CreateLayerRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created()
        .json(service::create_layer(&state, &a, *application_id, body.into_inner()).await?))
}

/// Rename or move a layer.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])), request_body = UpdateLayerRequest,
    responses((status = 200, body = ApplicationResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[patch("/layers/{layer_id}")]
async fn update_layer(
    a: Auth<Member>,
    state: web::Data<AppState>,
    layer_id: web::Path<LayerId>,
    body: crate::body::Body<UpdateLayerRequest>,
) -> ApiResult<web::Json<ApplicationResponse>> {
    Ok(web::Json(
        service::update_layer(&state, &a, *layer_id, body.into_inner()).await?,
    ))
}

/// Remove a layer with its groups (their appliances are terminated).
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound))]
#[delete("/layers/{layer_id}")]
async fn delete_layer(
    a: Auth<Member>,
    state: web::Data<AppState>,
    layer_id: web::Path<LayerId>,
) -> ApiResult<HttpResponse> {
    service::delete_layer(&state, &a, *layer_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a group of identical appliances to a layer.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])), request_body = CreateGroupRequest,
    responses((status = 201, body = ApplicationResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid sizes, unknown template or quota exceeded", body = Problem, content_type = "application/problem+json")))]
#[post("/layers/{layer_id}/groups")]
async fn create_group(
    a: Auth<Member>,
    state: web::Data<AppState>,
    layer_id: web::Path<LayerId>,
    body: crate::body::Body<CreateGroupRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created()
        .json(groups::create_group(&state, &a, *layer_id, body.into_inner()).await?))
}

/// One group.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = GroupResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/groups/{group_id}")]
async fn get_group(
    a: Auth<Member>,
    state: web::Data<AppState>,
    group_id: web::Path<GroupId>,
) -> ApiResult<web::Json<GroupResponse>> {
    Ok(web::Json(groups::get_group(&state, &a, *group_id).await?))
}

/// Rename a group, change its sizes or ServiceEnsure.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])), request_body = UpdateGroupRequest,
    responses((status = 200, body = GroupResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid sizes or quota exceeded", body = Problem, content_type = "application/problem+json")))]
#[patch("/groups/{group_id}")]
async fn update_group(
    a: Auth<Member>,
    state: web::Data<AppState>,
    group_id: web::Path<GroupId>,
    body: crate::body::Body<UpdateGroupRequest>,
) -> ApiResult<web::Json<GroupResponse>> {
    Ok(web::Json(
        groups::update_group(&state, &a, *group_id, body.into_inner()).await?,
    ))
}

/// Remove a group (its appliances are terminated).
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound))]
#[delete("/groups/{group_id}")]
async fn delete_group(
    a: Auth<Member>,
    state: web::Data<AppState>,
    group_id: web::Path<GroupId>,
) -> ApiResult<HttpResponse> {
    groups::delete_group(&state, &a, *group_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set a group's desired count; the orchestrator converges in the background.
#[utoipa::path(tag = "applications", security(("bearer" = ["operator", "admin", "user"])), request_body = ScaleGroupRequest,
    responses((status = 202, description = "Scaling", body = GroupResponse), Unauthenticated, Forbidden, NotFound,
        (status = 422, description = "Outside min..max or quota exceeded", body = Problem, content_type = "application/problem+json")))]
#[put("/groups/{group_id}/desired")]
async fn scale_group(
    a: Auth<Member>,
    state: web::Data<AppState>,
    group_id: web::Path<GroupId>,
    body: crate::body::Body<ScaleGroupRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted()
        .json(groups::scale(&state, &a, *group_id, body.into_inner()).await?))
}

/// Simulated pool: set the group's load knob, which drives its appliances' synthetic metrics.
#[utoipa::path(tag = "sim", security(("bearer" = ["operator", "admin", "user"])), request_body = SimLoad,
    responses((status = 204, description = "Set"), Unauthenticated, Forbidden, NotFound, Invalid))]
#[put("/groups/{group_id}/load")]
async fn set_group_load(
    a: Auth<Member>,
    state: web::Data<AppState>,
    group_id: web::Path<GroupId>,
    body: crate::body::Body<SimLoad>,
) -> ApiResult<HttpResponse> {
    body.validate()?;
    groups::set_load(&state, &a, *group_id, body.load_pct).await?;
    Ok(HttpResponse::NoContent().finish())
}
