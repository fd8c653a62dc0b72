//! Rules for images: operators register them in a pool (name and file unique per pool) and delete
//! them when no template uses them; admins see every image without its file name.

use crate::auth::AuthCtx;
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{CreateImageRequest, ImageFormat, ImageKind, ImageResponse, Page, PageQuery};
use common::{ImageId, PoolId, Role};
use serde_json::json;
use store::Image;
use store::repo::{audit, images, pools};
use store::time::now;
use validator::Validate;

pub async fn create(
    state: &AppState,
    ctx: &AuthCtx,
    pool: PoolId,
    req: CreateImageRequest,
) -> ApiResult<ImageResponse> {
    req.validate()?;
    if req.kind != ImageKind::Disk && req.format != ImageFormat::Raw {
        return Err(ApiError::field(
            "format",
            "not_raw",
            "kernels and initrds are raw files",
        ));
    }
    let image = Image {
        id: ImageId::new(),
        pool_id: pool,
        name: req.name.trim().to_owned(),
        kind: req.kind,
        format: req.format,
        file: req.file,
        sha256: req.sha256,
        size_bytes: req.size_bytes,
        created_at: now(),
    };
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<ImageResponse> {
            pools::get(c, pool)?.ok_or(ApiError::NotFound)?;
            images::insert(c, &image)?;
            audit::Entry::new(tenant, &actor, "image.create")
.object("image", image.id)
.detail(json!({"pool_id": pool, "name": image.name, "file": image.file, "sha256": image.sha256}))
.record(c)?;
            Ok(image.respond(true))
        })
        .await
}

/// Images of one pool (`Some`) or of all pools.
pub async fn list(
    state: &AppState,
    ctx: &AuthCtx,
    pool: Option<PoolId>,
    q: &PageQuery,
) -> ApiResult<Page<ImageResponse>> {
    let page = pagination::request(q)?;
    let operator = ctx.role == Role::Operator;
    let p = state
        .store
        .read(move |c| -> ApiResult<_> {
            if let Some(id) = pool {
                pools::get(c, id)?.ok_or(ApiError::NotFound)?;
            }
            Ok(images::list(c, pool, &page)?)
        })
        .await?;
    Ok(pagination::respond_map(p, |i| i.respond(operator)))
}

pub async fn get(state: &AppState, ctx: &AuthCtx, id: ImageId) -> ApiResult<ImageResponse> {
    let operator = ctx.role == Role::Operator;
    let i = state
        .store
        .read(move |c| images::get(c, id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(i.respond(operator))
}

pub async fn delete(state: &AppState, ctx: &AuthCtx, id: ImageId) -> ApiResult<()> {
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<()> {
            images::get(c, id)?.ok_or(ApiError::NotFound)?;
            if images::in_use(c, id)? {
                return Err(ApiError::InvalidState {
                    code: "image_in_use",
                    detail: "templates still use this image".into(),
                });
            }
            images::delete(c, id)?;
            audit::Entry::new(tenant, &actor, "image.delete")
                .object("image", id)
                .record(c)?;
            Ok(())
        })
        .await
}
