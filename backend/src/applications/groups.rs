//! Appliance groups: create, resize within min..max and the tenant's quotas, scale, remove; the
//! simulated load knob.
//! tenant's; users: assigned ones; another tenant's is not found); groups keep `min ≤ desired ≤ max`;
//! deploying or growing must stay within the tenant's quotas; every change makes the orchestrator
//! reconcile the application.

use crate::auth::AuthCtx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use common::api::{
    ApplicationResponse, CreateGroupRequest, GroupResponse, ScaleGroupRequest, UpdateGroupRequest,
};
use common::{GroupId, LayerId};
use serde_json::json;
use std::collections::HashMap;
use store::Group;
use store::repo::unscoped;
use store::repo::{applications as apps, audit, templates};
use store::time::now;
use validator::Validate;

use super::service::{check_quota, describe, visible_group, visible_layer};

pub async fn create_group(
    state: &AppState,
    ctx: &AuthCtx,
    layer: LayerId,
    req: CreateGroupRequest,
) -> ApiResult<ApplicationResponse> {
    req.validate()?;
    let ctx = ctx.clone();
    let cap = state.config.limits.groups_per_application;
    state
        .store
        .write(move |c| -> ApiResult<ApplicationResponse> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let (app, layer) = visible_layer(c, &ctx, layer)?;
            crate::limits::check("groups", apps::count_groups(c, ctx.tenant_id, app.id)?, cap)?;
            let template =
                templates::get_visible(c, ctx.tenant_id, req.template_id)?.ok_or_else(|| {
                    ApiError::field("template_id", "unknown", "no such template in your catalog")
                })?;
            orchestrator::placement::pool_for(template.pool_id, app.pool_id)
                .map_err(|why| ApiError::field("template_id", "cannot_run", why))?;
            let at = now();
            let group = Group {
                id: GroupId::new(),
                tenant_id: ctx.tenant_id,
                application_id: app.id,
                layer_id: layer.id,
                name: req.name.trim().to_owned(),
                template_id: req.template_id,
                size: req.size,
                service_ensure: req.service_ensure,
                autoscale: None,
                load_pct: 0,
                created_at: at,
                updated_at: at,
            };
            apps::insert_group(c, ctx.tenant_id, &group)?;
            if app.deployed {
                check_quota(c, ctx.tenant_id, &HashMap::new(), None)?;
            }
            orchestrator::automation::wire_defaults(c, ctx.tenant_id, app.id)?;
            unscoped::applications::touch(c, app.id)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "group.create")
                .object("application", app.id)
                .detail(json!({"group": group.name, "desired": group.size.desired}))
                .record(c)?;
            describe(c, app)
        })
        .await
}

/// One group as described within its application (with its running count).
fn respond(
    c: &mut store::DbConn,
    app: store::Application,
    id: GroupId,
) -> ApiResult<GroupResponse> {
    describe(c, app)?
        .layers
        .into_iter()
        .flat_map(|l| l.groups)
        .find(|g| g.id == id)
        .ok_or(ApiError::NotFound)
}

pub async fn get_group(state: &AppState, ctx: &AuthCtx, id: GroupId) -> ApiResult<GroupResponse> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<GroupResponse> {
            let (app, _) = visible_group(c, &ctx, id)?;
            respond(c, app, id)
        })
        .await
}

/// Change a group; growing a deployed one must stay within quota.
pub async fn update_group(
    state: &AppState,
    ctx: &AuthCtx,
    id: GroupId,
    req: UpdateGroupRequest,
) -> ApiResult<GroupResponse> {
    req.validate()?;
    let c2 = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<GroupResponse> {
            store::repo::locks::tenant(c, c2.tenant_id)?;
            let (app, mut group) = visible_group(c, &c2, id)?;
            if let Some(n) = &req.name {
                group.name = n.trim().to_owned();
            }
            if let Some(s) = req.size {
                if app.deployed && s.desired > group.size.desired {
                    check_quota(c, c2.tenant_id, &HashMap::from([(id, s.desired)]), None)?;
                }
                group.size = s;
            }
            if let Some(e) = req.service_ensure {
                group.service_ensure = e;
            }
            group.updated_at = now();
            apps::save_group(c, c2.tenant_id, &group)?;
            unscoped::applications::touch(c, app.id)?;
            audit::Entry::new(c2.tenant_id, &c2.actor(), "group.update")
                .object("application", app.id)
                .detail(json!({"group": group.name, "desired": group.size.desired}))
                .record(c)?;
            respond(c, app, id)
        })
        .await
}

/// Set a group's desired count (within its min and max, and the tenant's quota).
pub async fn scale(
    state: &AppState,
    ctx: &AuthCtx,
    id: GroupId,
    req: ScaleGroupRequest,
) -> ApiResult<GroupResponse> {
    req.validate()?;
    let c2 = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<GroupResponse> {
            store::repo::locks::tenant(c, c2.tenant_id)?;
            let (app, mut group) = visible_group(c, &c2, id)?;
            if req.desired < group.size.min || req.desired > group.size.max {
                return Err(ApiError::field(
                    "desired",
                    "out_of_bounds",
                    format!(
                        "must be between the group's min ({}) and max ({})",
                        group.size.min, group.size.max
                    ),
                ));
            }
            if app.deployed && req.desired > group.size.desired {
                check_quota(c, c2.tenant_id, &HashMap::from([(id, req.desired)]), None)?;
            }
            let from = group.size.desired;
            group.size.desired = req.desired;
            group.updated_at = now();
            apps::save_group(c, c2.tenant_id, &group)?;
            unscoped::applications::touch(c, app.id)?;
            audit::Entry::new(c2.tenant_id, &c2.actor(), "group.scale")
                .object("application", app.id)
                .detail(json!({"group": group.name, "from": from, "to": req.desired}))
                .record(c)?;
            respond(c, app, id)
        })
        .await
}

pub async fn delete_group(state: &AppState, ctx: &AuthCtx, id: GroupId) -> ApiResult<()> {
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<()> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let (app, group) = visible_group(c, &ctx, id)?;
            apps::delete_group(c, ctx.tenant_id, id)?;
            unscoped::applications::touch(c, app.id)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "group.delete")
                .object("application", app.id)
                .detail(json!({"group": group.name}))
                .record(c)?;
            Ok(())
        })
        .await
}

/// Set a group's simulated load (drives its simulated appliances' metrics).
pub async fn set_load(
    state: &AppState,
    ctx: &AuthCtx,
    id: GroupId,
    load_pct: u32,
) -> ApiResult<()> {
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<()> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let (_, mut group) = visible_group(c, &ctx, id)?;
            group.load_pct = load_pct.min(100);
            apps::save_group(c, ctx.tenant_id, &group)?;
            Ok(())
        })
        .await?;
    if let Some(sim) = &state.sim {
        sim.set_load(id, load_pct);
    }
    Ok(())
}
