//! `/api/v1/projects/*`.

use super::service;
use crate::auth::{Admin, Auth, Member};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use common::api::{
    AssignmentResponse, CreateProjectRequest, Page, PageQuery, ProjectResponse,
    UpdateProjectRequest,
};
use common::{Problem, ProjectId, UserId};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_projects)
        .service(create_project)
        .service(get_project)
        .service(update_project)
        .service(delete_project)
        .service(list_members)
        .service(assign_member)
        .service(unassign_member);
}

/// Projects I can see: all of my tenant's for admins, my assigned ones for users.
#[utoipa::path(tag = "projects", security(("bearer" = ["operator", "admin", "user"])), params(PageQuery),
    responses((status = 200, body = Page<ProjectResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/projects")]
async fn list_projects(
    auth: Auth<Member>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ProjectResponse>>> {
    Ok(web::Json(service::list(&state, &auth, &q).await?))
}

/// Create a project.
#[utoipa::path(tag = "projects", security(("bearer" = ["operator", "admin"])), request_body = CreateProjectRequest,
    responses((status = 201, body = ProjectResponse), Unauthenticated, Forbidden,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/projects")]
async fn create_project(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    body: crate::body::Body<CreateProjectRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&state, &auth, body.into_inner()).await?))
}

/// One project I can see.
#[utoipa::path(tag = "projects", security(("bearer" = ["operator", "admin", "user"])),
    responses((status = 200, body = ProjectResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/projects/{project_id}")]
async fn get_project(
    auth: Auth<Member>,
    state: web::Data<AppState>,
    project_id: web::Path<ProjectId>,
) -> ApiResult<web::Json<ProjectResponse>> {
    Ok(web::Json(service::get(&state, &auth, *project_id).await?))
}

/// Rename a project or change its description.
#[utoipa::path(tag = "projects", security(("bearer" = ["operator", "admin"])), request_body = UpdateProjectRequest,
    responses((status = 200, body = ProjectResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"), Invalid))]
#[patch("/projects/{project_id}")]
async fn update_project(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    project_id: web::Path<ProjectId>,
    body: crate::body::Body<UpdateProjectRequest>,
) -> ApiResult<web::Json<ProjectResponse>> {
    Ok(web::Json(
        service::update(&state, &auth, *project_id, body.into_inner()).await?,
    ))
}

/// Delete a project. Refused while any of its applications is deployed or has appliances not yet terminated.
#[utoipa::path(tag = "projects", security(("bearer" = ["operator", "admin"])),
    responses((status = 204, description = "Deleted"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Applications still deployed or appliances not yet terminated", body = Problem, content_type = "application/problem+json")))]
#[delete("/projects/{project_id}")]
async fn delete_project(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    project_id: web::Path<ProjectId>,
) -> ApiResult<HttpResponse> {
    service::delete(&state, &auth, *project_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The users assigned to a project.
#[utoipa::path(tag = "projects", security(("bearer" = ["operator", "admin"])), params(PageQuery),
    responses((status = 200, body = Page<AssignmentResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/projects/{project_id}/members")]
async fn list_members(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    project_id: web::Path<ProjectId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<AssignmentResponse>>> {
    Ok(web::Json(
        service::members(&state, &auth, *project_id, &q).await?,
    ))
}

/// Assign a user to a project (idempotent).
#[utoipa::path(tag = "projects", security(("bearer" = ["operator", "admin"])),
    responses((status = 201, description = "Assigned", body = AssignmentResponse),
        (status = 200, description = "Already assigned", body = AssignmentResponse), Unauthenticated, Forbidden, NotFound,
        (status = 422, description = "A finance user", body = Problem, content_type = "application/problem+json")))]
#[put("/projects/{project_id}/members/{user_id}")]
async fn assign_member(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (project, user) = path.into_inner();
    let (a, created) = service::assign(&state, &auth, project, user).await?;
    Ok(if created {
        HttpResponse::Created().json(a)
    } else {
        HttpResponse::Ok().json(a)
    })
}

/// Unassign a user from a project.
#[utoipa::path(tag = "projects", security(("bearer" = ["operator", "admin"])),
    responses((status = 204, description = "Unassigned"), Unauthenticated, Forbidden, NotFound))]
#[delete("/projects/{project_id}/members/{user_id}")]
async fn unassign_member(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (project, user) = path.into_inner();
    service::unassign(&state, &auth, project, user).await?;
    Ok(HttpResponse::NoContent().finish())
}
