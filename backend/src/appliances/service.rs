//! Rules for appliances: who sees them is who sees their application (admins: the tenant's; users:
//! assigned projects'; another tenant's is not found); an action must fit the appliance's state; every
//! action makes the orchestrator reconcile the application.

use crate::auth::AuthCtx;
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{ApplianceResponse, EventResponse, Page, PageQuery, TransitionResponse};
use common::{ApplianceId, ApplicationId};
use store::repo::unscoped;
use store::repo::{appliances, audit, events, metrics};
use store::{Appliance, Target};

use crate::applications::service::{visible_app, visible_appliance};

pub fn appliance_response(
    a: Appliance,
    metrics: Option<common::agent::MetricsReport>,
) -> ApplianceResponse {
    ApplianceResponse {
        id: a.id,
        application_id: a.application_id,
        group_id: a.group_id,
        name: a.name,
        state: a.state,
        state_reason: a.state_reason,
        host_id: a.host_id,
        ip: a.ip,
        vcpus: a.flavor.vcpus,
        memory_mib: a.flavor.memory_mib,
        created_at: a.created_at,
        state_since: a.state_since,
        last_heartbeat_at: a.last_heartbeat_at,
        metrics,
    }
}

pub async fn list_appliances(
    state: &AppState,
    ctx: &AuthCtx,
    app: ApplicationId,
    with_terminated: bool,
    q: &PageQuery,
) -> ApiResult<Page<ApplianceResponse>> {
    let page = pagination::request(q)?;
    let ctx = ctx.clone();
    let p = state
        .store
        .read(move |c| -> ApiResult<_> {
            visible_app(c, &ctx, app)?;
            Ok(appliances::list_for_app(
                c,
                ctx.tenant_id,
                app,
                with_terminated,
                &page,
            )?)
        })
        .await?;
    Ok(pagination::respond_map(p, |a| appliance_response(a, None)))
}

pub async fn get_appliance(
    state: &AppState,
    ctx: &AuthCtx,
    id: ApplianceId,
) -> ApiResult<ApplianceResponse> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<ApplianceResponse> {
            let a = visible_appliance(c, &ctx, id)?;
            let m = metrics::get(c, ctx.tenant_id, id)?;
            Ok(appliance_response(a, m))
        })
        .await
}

pub async fn transitions(
    state: &AppState,
    ctx: &AuthCtx,
    id: ApplianceId,
    q: &PageQuery,
) -> ApiResult<Page<TransitionResponse>> {
    let page = pagination::request(q)?;
    let ctx = ctx.clone();
    let p = state
        .store
        .read(move |c| -> ApiResult<_> {
            visible_appliance(c, &ctx, id)?;
            Ok(appliances::transitions(c, ctx.tenant_id, id, &page)?)
        })
        .await?;
    Ok(pagination::respond(p))
}

pub async fn events(
    state: &AppState,
    ctx: &AuthCtx,
    app: ApplicationId,
    q: &PageQuery,
) -> ApiResult<Page<EventResponse>> {
    let page = pagination::request(q)?;
    let ctx = ctx.clone();
    let p = state
        .store
        .read(move |c| -> ApiResult<_> {
            visible_app(c, &ctx, app)?;
            Ok(events::list(c, ctx.tenant_id, Some(app), &page)?)
        })
        .await?;
    Ok(pagination::respond(p))
}

/// Ask for an appliance to be stopped, started, rebooted or terminated; returns at once.
pub async fn set_target(
    state: &AppState,
    ctx: &AuthCtx,
    id: ApplianceId,
    target: Target,
) -> ApiResult<ApplianceResponse> {
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<ApplianceResponse> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let mut a = visible_appliance(c, &ctx, id)?;
            let fits = match target {
                Target::Stop => a.state.may_stop(),
                Target::Run => a.state.may_start(),
                Target::Reboot => a.state.may_reboot(),
                Target::Terminate => a.state.may_terminate(),
            };
            if !fits || a.target == Target::Terminate {
                return Err(ApiError::InvalidState {
                    code: "invalid_state",
                    detail: format!(
                        "cannot {} an appliance that is {}",
                        target.as_str(),
                        a.state
                    ),
                });
            }
            unscoped::appliances::set_target(c, id, target)?;
            unscoped::applications::touch(c, a.application_id)?;
            let action = match target {
                Target::Run => "appliance.run",
                Target::Stop => "appliance.stop",
                Target::Reboot => "appliance.reboot",
                Target::Terminate => "appliance.terminate",
            };
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), action)
                .object("appliance", id)
                .record(c)?;
            a.target = target;
            Ok(appliance_response(a, None))
        })
        .await
}
