//! Rules for templates: operators add global templates, admins private ones; everyone who works on
//! projects sees the global ones and their tenant's. A template boots from registered images only
//! (a disk, or a kernel with an optional initrd), all of one pool — never from a path a tenant gave.

use crate::auth::AuthCtx;
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{CreateTemplateRequest, ImageKind, Page, PageQuery, TemplateResponse};
use common::{ImageId, PoolId, Role, TemplateId, TenantId};
use serde_json::json;
use store::repo::{audit, images, templates};
use store::time::now;
use store::{DbConn, Template};
use validator::Validate;

/// Whose template a caller creates: operators make global ones, admins their tenant's.
fn owner(role: Role, tenant: TenantId) -> Option<TenantId> {
    (role != Role::Operator).then_some(tenant)
}

/// The images a template names, checked: each registered, of the kind its field says, all in one
/// pool; a disk or a kernel; an initrd only with a kernel. Returns their pool.
fn images_pool(c: &mut DbConn, req: &CreateTemplateRequest) -> ApiResult<PoolId> {
    let fields = [
        ("image_id", req.image_id, ImageKind::Disk),
        ("kernel_image_id", req.kernel_image_id, ImageKind::Kernel),
        ("initrd_image_id", req.initrd_image_id, ImageKind::Initrd),
    ];
    if req.image_id.is_none() && req.kernel_image_id.is_none() {
        return Err(ApiError::field(
            "image_id",
            "required",
            "a template needs a disk image or a kernel image",
        ));
    }
    if req.initrd_image_id.is_some() && req.kernel_image_id.is_none() {
        return Err(ApiError::field(
            "initrd_image_id",
            "needs_kernel",
            "an initrd needs a kernel image",
        ));
    }
    let ids: Vec<ImageId> = fields.iter().filter_map(|f| f.1).collect();
    let found = images::get_many(c, &ids)?;
    let mut pool = None;
    for (field, id, kind) in fields {
        let Some(id) = id else { continue };
        let Some(image) = found.iter().find(|i| i.id == id) else {
            return Err(ApiError::field(field, "unknown", "no such image"));
        };
        if image.kind != kind {
            return Err(ApiError::field(
                field,
                "wrong_kind",
                format!(
                    "is a {} image, not a {} image",
                    image.kind.as_str(),
                    kind.as_str()
                ),
            ));
        }
        match pool {
            Some(p) if p != image.pool_id => {
                return Err(ApiError::field(
                    field,
                    "other_pool",
                    "all of a template's images must be registered in one pool",
                ));
            }
            _ => pool = Some(image.pool_id),
        }
    }
    pool.ok_or(ApiError::field(
        "image_id",
        "required",
        "a template needs an image",
    ))
}

pub async fn list(
    state: &AppState,
    ctx: &AuthCtx,
    q: &PageQuery,
) -> ApiResult<Page<TemplateResponse>> {
    let page = pagination::request(q)?;
    let tenant = ctx.tenant_id;
    let p = state
        .store
        .read(move |c| templates::list_visible(c, tenant, &page))
        .await?;
    Ok(pagination::respond(p))
}

pub async fn create(
    state: &AppState,
    ctx: &AuthCtx,
    req: CreateTemplateRequest,
) -> ApiResult<TemplateResponse> {
    req.validate()?;
    let (tenant, actor, own) = (ctx.tenant_id, ctx.actor(), owner(ctx.role, ctx.tenant_id));
    let cap = state.config.limits.templates_per_tenant;
    state
        .store
        .write(move |c| -> ApiResult<TemplateResponse> {
            store::repo::locks::tenant(c, tenant)?;
            crate::limits::check("templates", templates::count_owned(c, own)?, cap)?;
            let pool = images_pool(c, &req)?;
            let t = Template {
                id: TemplateId::new(),
                tenant_id: own,
                name: req.name.trim().to_owned(),
                role: req.role,
                description: req.description,
                pool_id: Some(pool),
                image_id: req.image_id,
                kernel_image_id: req.kernel_image_id,
                initrd_image_id: req.initrd_image_id,
                flavor: req.flavor,
                ports: req.ports,
                install_scripts: req.install_scripts,
                metrics: req.metrics,
                created_at: now(),
            };
            templates::insert(c, &t)?;
            audit::Entry::new(tenant, &actor, "template.create")
                .object("template", t.id)
                .detail(json!({"name": t.name, "global": t.tenant_id.is_none(), "pool_id": pool}))
                .record(c)?;
            Ok(t.into())
        })
        .await
}

pub async fn get(state: &AppState, ctx: &AuthCtx, id: TemplateId) -> ApiResult<TemplateResponse> {
    let tenant = ctx.tenant_id;
    let t = state
        .store
        .read(move |c| templates::get_visible(c, tenant, id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(t.into())
}

/// Delete a template the caller owns (operators: a global one) that no group uses.
pub async fn delete(state: &AppState, ctx: &AuthCtx, id: TemplateId) -> ApiResult<()> {
    let (tenant, actor, own) = (ctx.tenant_id, ctx.actor(), owner(ctx.role, ctx.tenant_id));
    state
        .store
        .write(move |c| -> ApiResult<()> {
            let t = templates::get_visible(c, tenant, id)?.ok_or(ApiError::NotFound)?;
            if t.tenant_id != own {
                // a global template seen by an admin: visible, not theirs to delete
                return Err(ApiError::Forbidden);
            }
            if templates::in_use(c, id)? {
                return Err(ApiError::InvalidState {
                    code: "template_in_use",
                    detail: "groups still use this template".into(),
                });
            }
            templates::delete(c, own, id)?;
            audit::Entry::new(tenant, &actor, "template.delete")
                .object("template", id)
                .record(c)?;
            Ok(())
        })
        .await
}
