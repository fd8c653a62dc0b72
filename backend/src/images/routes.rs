//! `/api/v1/pools/{pool_id}/images` and `/api/v1/images/*`.

use super::service;
use crate::auth::{Admin, Auth, Operator};
use crate::error::ApiResult;
use crate::openapi::{Forbidden, Invalid, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use common::api::{CreateImageRequest, ImageResponse, Page, PageQuery};
use common::{ImageId, PoolId, Problem};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_pool_images)
        .service(create_image)
        .service(list_images)
        .service(get_image)
        .service(delete_image);
}

/// The images registered in a pool.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), params(PageQuery),
    responses((status = 200, body = Page<ImageResponse>), Unauthenticated, Forbidden, NotFound, Invalid))]
#[get("/pools/{pool_id}/images")]
async fn list_pool_images(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    pool_id: web::Path<PoolId>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ImageResponse>>> {
    Ok(web::Json(
        service::list(&state, &a, Some(*pool_id), &q).await?,
    ))
}

/// Register an image that is in the pool's image directory on every host of the pool.
///
/// The driver checks the file's size and SHA-256 on each host before using it; a file name with a
/// directory part, a hidden file or `..` is refused.
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])), request_body = CreateImageRequest,
    responses((status = 201, body = ImageResponse), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Name or file already registered in the pool", body = Problem, content_type = "application/problem+json"), Invalid))]
#[post("/pools/{pool_id}/images")]
async fn create_image(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    pool_id: web::Path<PoolId>,
    body: crate::body::Body<CreateImageRequest>,
) -> ApiResult<HttpResponse> {
    let created = service::create(&state, &a, *pool_id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Every registered image (admins build private templates on them; the file is shown to operators).
#[utoipa::path(tag = "catalog", security(("bearer" = ["operator", "admin"])), params(PageQuery),
    responses((status = 200, body = Page<ImageResponse>), Unauthenticated, Forbidden, Invalid))]
#[get("/images")]
async fn list_images(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<ImageResponse>>> {
    Ok(web::Json(service::list(&state, &a, None, &q).await?))
}

/// One registered image.
#[utoipa::path(tag = "catalog", security(("bearer" = ["operator", "admin"])),
    responses((status = 200, body = ImageResponse), Unauthenticated, Forbidden, NotFound))]
#[get("/images/{image_id}")]
async fn get_image(
    a: Auth<Admin>,
    state: web::Data<AppState>,
    image_id: web::Path<ImageId>,
) -> ApiResult<web::Json<ImageResponse>> {
    Ok(web::Json(service::get(&state, &a, *image_id).await?))
}

/// Remove an image from the registry (its file stays on the hosts).
#[utoipa::path(tag = "compute", security(("bearer" = ["operator"])),
    responses((status = 204, description = "Removed"), Unauthenticated, Forbidden, NotFound,
        (status = 409, description = "Templates use the image", body = Problem, content_type = "application/problem+json")))]
#[delete("/images/{image_id}")]
async fn delete_image(
    a: Auth<Operator>,
    state: web::Data<AppState>,
    image_id: web::Path<ImageId>,
) -> ApiResult<HttpResponse> {
    service::delete(&state, &a, *image_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
