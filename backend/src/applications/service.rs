//! Rules for applications: callers reach an application through its project (admins: any of the
//! tenant's; users: assigned ones; another tenant's is not found); groups keep `min ≤ desired ≤ max`;
//! deploying or growing must stay within the tenant's quotas; every change makes the orchestrator
//! reconcile the application.

use crate::auth::AuthCtx;
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::projects::service::visible;
use crate::state::AppState;
use common::api::{
    ApplicationResponse, CreateApplicationRequest, CreateLayerRequest, GroupResponse,
    LayerResponse, Page, PageQuery, UpdateApplicationRequest, UpdateLayerRequest,
};
use common::{ApplianceId, ApplianceState, ApplicationId, GroupId, LayerId, ProjectId, TenantId};
use orchestrator::quota;
use serde_json::json;
use std::collections::HashMap;
use store::repo::unscoped;
use store::repo::{appliances, applications as apps, audit, pools, tenants};
use store::time::now;
use store::{Appliance, Application, DbConn, Group, Layer};
use validator::Validate;

/// The application, if the caller may see its project.
pub fn visible_app(c: &mut DbConn, ctx: &AuthCtx, id: ApplicationId) -> ApiResult<Application> {
    let app = apps::get(c, ctx.tenant_id, id)?.ok_or(ApiError::NotFound)?;
    visible(c, ctx, app.project_id)?;
    Ok(app)
}

pub(super) fn visible_layer(
    c: &mut DbConn,
    ctx: &AuthCtx,
    id: LayerId,
) -> ApiResult<(Application, Layer)> {
    let layer = apps::get_layer(c, ctx.tenant_id, id)?.ok_or(ApiError::NotFound)?;
    Ok((visible_app(c, ctx, layer.application_id)?, layer))
}

pub(super) fn visible_group(
    c: &mut DbConn,
    ctx: &AuthCtx,
    id: GroupId,
) -> ApiResult<(Application, Group)> {
    let group = apps::get_group(c, ctx.tenant_id, id)?.ok_or(ApiError::NotFound)?;
    Ok((visible_app(c, ctx, group.application_id)?, group))
}

pub fn visible_appliance(c: &mut DbConn, ctx: &AuthCtx, id: ApplianceId) -> ApiResult<Appliance> {
    let a = appliances::get(c, ctx.tenant_id, id)?.ok_or(ApiError::NotFound)?;
    visible_app(c, ctx, a.application_id)?;
    Ok(a)
}

/// Refuse a change that would take the tenant's deployed groups over a quota. `desired` overrides
/// groups' desired counts; `deploying` counts an application that is not deployed yet.
pub(super) fn check_quota(
    c: &mut DbConn,
    tenant: TenantId,
    desired: &HashMap<GroupId, u32>,
    deploying: Option<ApplicationId>,
) -> ApiResult<()> {
    tenants::get(c, tenant)?.ok_or(ApiError::NotFound)?;
    if let Some((name, limit, want)) = quota::over_quota(c, tenant, desired, deploying)? {
        return Err(ApiError::Quota {
            quota: name,
            limit,
            requested: want,
        });
    }
    Ok(())
}

/// The whole application: layers in order, their groups with running counts.
pub(super) fn describe(c: &mut DbConn, app: Application) -> ApiResult<ApplicationResponse> {
    let layers = apps::layers(c, app.tenant_id, app.id)?;
    let groups = unscoped::applications::groups(c, app.id)?;
    let mut running: HashMap<GroupId, u32> = HashMap::new();
    for a in unscoped::appliances::of_application(c, app.id)? {
        if a.state == ApplianceState::Running {
            *running.entry(a.group_id).or_default() += 1;
        }
    }
    let layers = layers
        .into_iter()
        .map(|l| LayerResponse {
            groups: groups
                .iter()
                .filter(|g| g.layer_id == l.id)
                .map(|g| GroupResponse {
                    id: g.id,
                    layer_id: g.layer_id,
                    name: g.name.clone(),
                    template_id: g.template_id,
                    size: g.size,
                    service_ensure: g.service_ensure,
                    running: running.get(&g.id).copied().unwrap_or(0),
                    created_at: g.created_at,
                    updated_at: g.updated_at,
                })
                .collect(),
            id: l.id,
            name: l.name,
            position: l.position,
        })
        .collect();
    Ok(ApplicationResponse {
        id: app.id,
        tenant_id: app.tenant_id,
        project_id: app.project_id,
        name: app.name,
        description: app.description,
        pool_id: app.pool_id,
        deployed: app.deployed,
        layers,
        created_at: app.created_at,
        updated_at: app.updated_at,
    })
}

pub async fn create(
    state: &AppState,
    ctx: &AuthCtx,
    project: ProjectId,
    req: CreateApplicationRequest,
) -> ApiResult<ApplicationResponse> {
    req.validate()?;
    let ctx = ctx.clone();
    let cap = state.config.limits.applications_per_tenant;
    state
        .store
        .write(move |c| -> ApiResult<ApplicationResponse> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            visible(c, &ctx, project)?;
            crate::limits::check(
                "applications",
                apps::count_of_tenant(c, ctx.tenant_id)?,
                cap,
            )?;
            if let Some(p) = req.pool_id {
                pools::get(c, p)?
                    .ok_or_else(|| ApiError::field("pool_id", "unknown", "no such pool"))?;
            }
            let at = now();
            let app = Application {
                id: ApplicationId::new(),
                tenant_id: ctx.tenant_id,
                project_id: project,
                name: req.name.trim().to_owned(),
                description: req.description,
                pool_id: req.pool_id,
                deployed: false,
                generation: 0,
                failures: 0,
                last_error: None,
                created_at: at,
                updated_at: at,
            };
            apps::insert(c, ctx.tenant_id, &app)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "application.create")
                .object("application", app.id)
                .detail(json!({"name": app.name}))
                .record(c)?;
            describe(c, app)
        })
        .await
}

pub async fn list(
    state: &AppState,
    ctx: &AuthCtx,
    project: ProjectId,
    q: &PageQuery,
) -> ApiResult<Page<ApplicationResponse>> {
    let page = pagination::request(q)?;
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<Page<ApplicationResponse>> {
            visible(c, &ctx, project)?;
            let p = apps::list_in_project(c, ctx.tenant_id, project, &page)?;
            let next = p.next_after.clone();
            let items = p
                .items
                .into_iter()
                .map(|a| describe(c, a))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(pagination::respond_map(
                store::repo::Page {
                    items,
                    next_after: next,
                },
                |x| x,
            ))
        })
        .await
}

pub async fn get(
    state: &AppState,
    ctx: &AuthCtx,
    id: ApplicationId,
) -> ApiResult<ApplicationResponse> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| {
            let app = visible_app(c, &ctx, id)?;
            describe(c, app)
        })
        .await
}

pub async fn update(
    state: &AppState,
    ctx: &AuthCtx,
    id: ApplicationId,
    req: UpdateApplicationRequest,
) -> ApiResult<ApplicationResponse> {
    req.validate()?;
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<ApplicationResponse> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let mut app = visible_app(c, &ctx, id)?;
            if let Some(n) = &req.name {
                app.name = n.trim().to_owned();
            }
            if let Some(d) = req.description {
                app.description = d;
            }
            app.updated_at = now();
            apps::save(c, ctx.tenant_id, &app)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "application.update")
                .object("application", id)
                .detail(json!({"name": app.name}))
                .record(c)?;
            describe(c, app)
        })
        .await
}

pub async fn delete(state: &AppState, ctx: &AuthCtx, id: ApplicationId) -> ApiResult<()> {
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<()> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let app = visible_app(c, &ctx, id)?;
            let live = unscoped::appliances::of_application(c, id)?.len();
            if app.deployed || live > 0 {
                return Err(ApiError::InvalidState {
                    code: "application_deployed",
                    detail: format!("undeploy the application first ({live} appliances remain)"),
                });
            }
            apps::delete(c, ctx.tenant_id, id)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "application.delete")
                .object("application", id)
                .record(c)?;
            Ok(())
        })
        .await
}

/// Deploy (within quota) or undeploy; the orchestrator does the rest in the background.
pub async fn set_deployed(
    state: &AppState,
    ctx: &AuthCtx,
    id: ApplicationId,
    deployed: bool,
) -> ApiResult<ApplicationResponse> {
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<ApplicationResponse> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let mut app = visible_app(c, &ctx, id)?;
            if deployed {
                check_quota(c, ctx.tenant_id, &HashMap::new(), Some(id))?;
                orchestrator::automation::wire_defaults(c, ctx.tenant_id, id)?;
            }
            app.deployed = deployed;
            app.updated_at = now();
            apps::save(c, ctx.tenant_id, &app)?;
            let action = if deployed {
                "application.deploy"
            } else {
                "application.undeploy"
            };
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), action)
                .object("application", id)
                .record(c)?;
            describe(c, app)
        })
        .await
}

pub async fn create_layer(
    state: &AppState,
    ctx: &AuthCtx,
    app: ApplicationId,
    req: CreateLayerRequest,
) -> ApiResult<ApplicationResponse> {
    req.validate()?;
    let ctx = ctx.clone();
    let cap = state.config.limits.layers_per_application;
    state
        .store
        .write(move |c| -> ApiResult<ApplicationResponse> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let application = visible_app(c, &ctx, app)?;
            let mut layers = apps::layers(c, ctx.tenant_id, app)?;
            crate::limits::check(
                "layers",
                i64::try_from(layers.len()).unwrap_or(i64::MAX),
                cap,
            )?;
            let at = usize::try_from(req.position.unwrap_or(u32::MAX))
                .unwrap_or(usize::MAX)
                .min(layers.len());
            let layer = Layer {
                id: LayerId::new(),
                tenant_id: ctx.tenant_id,
                application_id: app,
                name: req.name.trim().to_owned(),
                position: 0,
                created_at: now(),
            };
            if layers.iter().any(|l| l.name == layer.name) {
                return Err(ApiError::Conflict { field: "name" });
            }
            apps::insert_layer(
                c,
                ctx.tenant_id,
                &Layer {
                    position: u32::try_from(layers.len()).unwrap_or(u32::MAX),
                    ..layer.clone()
                },
            )?;
            layers.insert(at, layer);
            renumber(&mut layers);
            apps::save_layers(c, ctx.tenant_id, &layers)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "layer.create")
                .object("application", app)
                .detail(json!({"layer": req.name}))
                .record(c)?;
            describe(c, application)
        })
        .await
}

fn renumber(layers: &mut [Layer]) {
    for (i, l) in layers.iter_mut().enumerate() {
        l.position = u32::try_from(i).unwrap_or(u32::MAX);
    }
}

pub async fn update_layer(
    state: &AppState,
    ctx: &AuthCtx,
    id: LayerId,
    req: UpdateLayerRequest,
) -> ApiResult<ApplicationResponse> {
    req.validate()?;
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<ApplicationResponse> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let (app, layer) = visible_layer(c, &ctx, id)?;
            let mut layers = apps::layers(c, ctx.tenant_id, app.id)?;
            let Some(from) = layers.iter().position(|l| l.id == id) else {
                return Err(ApiError::NotFound);
            };
            let mut moved = layers.remove(from);
            if let Some(n) = &req.name {
                let n = n.trim();
                if layers.iter().any(|l| l.name == n) {
                    return Err(ApiError::Conflict { field: "name" });
                }
                moved.name = n.to_owned();
            }
            let to = req.position.map_or(from, |p| {
                usize::try_from(p).unwrap_or(usize::MAX).min(layers.len())
            });
            layers.insert(to, moved);
            renumber(&mut layers);
            apps::save_layers(c, ctx.tenant_id, &layers)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "layer.update")
                .object("application", app.id)
                .detail(json!({"layer": layer.name}))
                .record(c)?;
            describe(c, app)
        })
        .await
}

pub async fn delete_layer(state: &AppState, ctx: &AuthCtx, id: LayerId) -> ApiResult<()> {
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<()> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let (app, layer) = visible_layer(c, &ctx, id)?;
            apps::delete_layer(c, ctx.tenant_id, id)?;
            let mut layers = apps::layers(c, ctx.tenant_id, app.id)?;
            renumber(&mut layers);
            apps::save_layers(c, ctx.tenant_id, &layers)?;
            unscoped::applications::touch(c, app.id)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "layer.delete")
                .object("application", app.id)
                .detail(json!({"layer": layer.name}))
                .record(c)?;
            Ok(())
        })
        .await
}
