//! Rules for CloudScripts: a tenant's members see their tenant's scripts and the provider's library,
//! and change only their tenant's; operators manage the library. Every save is a new version,
//! checked first (it parses, uses only the context's names and its declared variables, renders
//! against a sample context). Previews and runs render for an appliance the caller may see.

use crate::applications::service::visible_appliance;
use crate::auth::AuthCtx;
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{
    CreateScriptRequest, JobPurpose, JobResponse, Page, PageQuery, RenderRequest, RenderResponse,
    RunScriptRequest, ScriptResponse, ScriptVersionRequest, ScriptVersionResponse,
};
use common::{FieldError, Role, ScriptId, TenantId};
use orchestrator::automation::context::{World, live};
use orchestrator::automation::jobs::{self, Origin};
use orchestrator::automation::render::{self, RenderError};
use orchestrator::automation::sandbox;
use serde_json::json;
use store::repo::{audit, rules, scripts, unscoped};
use store::time::now;
use store::{DbConn, Job, Script, ScriptVersion};
use validator::Validate;

/// Whose scripts the caller works on: operators the library (`None`), others their tenant's.
fn owner(ctx: &AuthCtx) -> Option<TenantId> {
    (ctx.role != Role::Operator).then_some(ctx.tenant_id)
}

/// A render error as the API's 422.
pub fn invalid(e: RenderError) -> ApiError {
    let message = match e.line {
        Some(l) => format!("line {l}: {}", e.message),
        None => e.message,
    };
    ApiError::Validation(vec![FieldError {
        field: e.field,
        code: "invalid_template".into(),
        message,
    }])
}

/// Secret variables' defaults as every answer shows them.
fn masked_defaults(mut vars: Vec<common::api::VariableDecl>) -> Vec<common::api::VariableDecl> {
    for d in vars.iter_mut().filter(|d| d.secret) {
        if d.default.is_some() {
            d.default = Some(serde_json::Value::String(common::api::MASK.into()));
        }
    }
    vars
}

/// A new version's secret defaults sent back masked keep the previous version's.
fn keep_secret_defaults(new: &mut [common::api::VariableDecl], old: &[common::api::VariableDecl]) {
    for d in new.iter_mut().filter(|d| d.secret) {
        if d.default.as_ref().and_then(|v| v.as_str()) == Some(common::api::MASK) {
            d.default = old
                .iter()
                .find(|o| o.name == d.name && o.secret)
                .and_then(|o| o.default.clone());
        }
    }
}

pub fn version_response(v: ScriptVersion) -> ScriptVersionResponse {
    ScriptVersionResponse {
        version: v.version,
        interpreter: render::interpreter(&v.body),
        body: v.body,
        variables: masked_defaults(v.variables),
        timeout_secs: v.timeout_secs,
        created_at: v.created_at,
    }
}

fn respond(s: Script, latest: ScriptVersion) -> ScriptResponse {
    ScriptResponse {
        id: s.id,
        tenant_id: s.tenant_id,
        name: s.name,
        description: s.description,
        latest_version: s.latest_version,
        latest: version_response(latest),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

pub fn job_response(j: Job) -> JobResponse {
    JobResponse {
        id: j.id,
        appliance_id: j.appliance_id,
        application_id: j.application_id,
        run_id: j.run_id,
        purpose: j.purpose,
        script_id: j.script_id,
        script_name: j.script_name,
        version: j.version,
        status: j.status,
        script: j.shown,
        exit_code: j.exit_code,
        stdout: j.stdout,
        stderr: j.stderr,
        timeout_secs: j.timeout_secs,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
    }
}

/// A script the caller may see (operators: the library only).
pub fn visible(c: &mut DbConn, ctx: &AuthCtx, id: ScriptId) -> ApiResult<Script> {
    let s = scripts::get(c, ctx.tenant_id, id)?.ok_or(ApiError::NotFound)?;
    if ctx.role == Role::Operator && s.tenant_id.is_some() {
        return Err(ApiError::NotFound);
    }
    Ok(s)
}

/// A script the caller may change: seen and owned (a tenant's member sees the library but may not
/// change it).
fn owned(c: &mut DbConn, ctx: &AuthCtx, id: ScriptId) -> ApiResult<Script> {
    let s = visible(c, ctx, id)?;
    if s.tenant_id != owner(ctx) {
        return Err(ApiError::Forbidden);
    }
    Ok(s)
}

fn latest(c: &mut DbConn, s: &Script) -> ApiResult<ScriptVersion> {
    scripts::version(c, s.id, s.latest_version)?.ok_or(ApiError::NotFound)
}

/// Validate a version and render it against a sample context (on a blocking thread: a render
/// waits on a worker process).
async fn checked(req: &ScriptVersionRequest) -> ApiResult<()> {
    req.validate()?;
    let (body, variables) = (req.body.clone(), req.variables.clone());
    tokio::task::spawn_blocking(move || sandbox::check_script(&body, &variables))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(invalid)
}

pub async fn create(
    state: &AppState,
    ctx: &AuthCtx,
    req: CreateScriptRequest,
) -> ApiResult<ScriptResponse> {
    req.validate()?;
    checked(&req.version()).await?;
    let ctx = ctx.clone();
    let limits = state.config.limits;
    state
        .store
        .write(move |c| -> ApiResult<ScriptResponse> {
            let at = now();
            let script = Script {
                id: ScriptId::new(),
                tenant_id: owner(&ctx),
                name: req.name,
                description: req.description.trim().to_owned(),
                latest_version: 1,
                created_at: at,
                updated_at: at,
            };
            let v = ScriptVersion {
                script_id: script.id,
                version: 1,
                body: req.body,
                variables: req.variables,
                timeout_secs: req.timeout_secs,
                created_at: at,
            };
            if let Some(tenant) = script.tenant_id {
                store::repo::locks::tenant(c, tenant)?;
                crate::limits::check(
                    "cloudscripts",
                    scripts::count_of(c, tenant)?,
                    limits.scripts_per_tenant,
                )?;
                if scripts::by_name(c, None, &script.name)?.is_some() {
                    return Err(ApiError::Conflict { field: "name" });
                }
            }
            scripts::insert(c, &script, &v)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "cloudscript.create")
                .object("cloudscript", script.id)
                .detail(json!({"name": script.name, "library": script.tenant_id.is_none()}))
                .record(c)?;
            Ok(respond(script, v))
        })
        .await
}

pub async fn add_version(
    state: &AppState,
    ctx: &AuthCtx,
    id: ScriptId,
    req: ScriptVersionRequest,
) -> ApiResult<ScriptResponse> {
    checked(&req).await?;
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<ScriptResponse> {
            store::repo::locks::lock(c, store::repo::locks::Table::Scripts, &id.to_string())?;
            let mut s = owned(c, &ctx, id)?;
            let at = now();
            let mut variables = req.variables;
            keep_secret_defaults(&mut variables, &latest(c, &s)?.variables);
            let v = ScriptVersion {
                script_id: s.id,
                version: s.latest_version + 1,
                body: req.body,
                variables,
                timeout_secs: req.timeout_secs,
                created_at: at,
            };
            scripts::add_version(c, &s, &v, None, at).map_err(|e| match e {
                store::StoreError::Stale => ApiError::InvalidState {
                    code: "version_conflict",
                    detail: "another version was saved meanwhile; reload and save again".into(),
                },
                e => e.into(),
            })?;
            s.latest_version = v.version;
            s.updated_at = at;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "cloudscript.version")
                .object("cloudscript", s.id)
                .detail(json!({"version": v.version}))
                .record(c)?;
            Ok(respond(s, v))
        })
        .await
}

pub async fn get(state: &AppState, ctx: &AuthCtx, id: ScriptId) -> ApiResult<ScriptResponse> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<ScriptResponse> {
            let s = visible(c, &ctx, id)?;
            let v = latest(c, &s)?;
            Ok(respond(s, v))
        })
        .await
}

pub async fn list(
    state: &AppState,
    ctx: &AuthCtx,
    q: &PageQuery,
) -> ApiResult<Page<ScriptResponse>> {
    let page = pagination::request(q)?;
    let who = owner(ctx);
    state
        .store
        .read(move |c| -> ApiResult<Page<ScriptResponse>> {
            let found = scripts::list(c, who, &page)?;
            let mut items = Vec::with_capacity(found.items.len());
            for s in found.items {
                let v = latest(c, &s)?;
                items.push(respond(s, v));
            }
            Ok(pagination::respond(store::repo::Page {
                items,
                next_after: found.next_after,
            }))
        })
        .await
}

pub async fn versions(
    state: &AppState,
    ctx: &AuthCtx,
    id: ScriptId,
) -> ApiResult<Vec<ScriptVersionResponse>> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<Vec<ScriptVersionResponse>> {
            let s = visible(c, &ctx, id)?;
            Ok(scripts::versions(c, s.id)?
                .into_iter()
                .map(version_response)
                .collect())
        })
        .await
}

pub async fn version(
    state: &AppState,
    ctx: &AuthCtx,
    id: ScriptId,
    v: u32,
) -> ApiResult<ScriptVersionResponse> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<ScriptVersionResponse> {
            let s = visible(c, &ctx, id)?;
            let found = scripts::version(c, s.id, v)?.ok_or(ApiError::NotFound)?;
            Ok(version_response(found))
        })
        .await
}

pub async fn delete(state: &AppState, ctx: &AuthCtx, id: ScriptId) -> ApiResult<()> {
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<()> {
            store::repo::locks::lock(c, store::repo::locks::Table::Scripts, &id.to_string())?;
            let s = owned(c, &ctx, id)?;
            if rules::uses_script(c, s.id)? {
                return Err(ApiError::InvalidState {
                    code: "script_in_use",
                    detail: "event rules run this script; change or remove them first".into(),
                });
            }
            if unscoped::templates::uses_script(c, &s.name, s.tenant_id)? {
                return Err(ApiError::InvalidState {
                    code: "script_in_use",
                    detail: "appliance templates install with this script".into(),
                });
            }
            scripts::delete(c, owner(&ctx), s.id)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "cloudscript.delete")
                .object("cloudscript", s.id)
                .record(c)?;
            Ok(())
        })
        .await
}

/// The script's version `v` (latest when none) as the caller may use it.
fn usable(
    c: &mut DbConn,
    ctx: &AuthCtx,
    id: ScriptId,
    v: Option<u32>,
) -> ApiResult<(Script, ScriptVersion)> {
    let s = visible(c, ctx, id)?;
    let n = v.unwrap_or(s.latest_version);
    let found = scripts::version(c, s.id, n)?.ok_or_else(|| {
        ApiError::field(
            "version",
            "unknown_version",
            format!("the script has no version {n}"),
        )
    })?;
    Ok((s, found))
}

/// Render a script for an appliance without running it (secrets masked).
pub async fn preview(
    state: &AppState,
    ctx: &AuthCtx,
    id: ScriptId,
    req: RenderRequest,
) -> ApiResult<RenderResponse> {
    req.validate()?;
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<RenderResponse> {
            let (_, v) = usable(c, &ctx, id, req.version)?;
            let a = visible_appliance(c, &ctx, req.appliance_id)?;
            let world = World::load(c, a.tenant_id, a.application_id, Some(a.id))?
                .ok_or(ApiError::NotFound)?;
            let r = sandbox::render(
                &v.body,
                &v.variables,
                &world.context(Some(&a), None),
                &req.variables,
            )
            .map_err(invalid)?;
            Ok(RenderResponse {
                script: r.masked_script(),
                env: r.masked_env(),
            })
        })
        .await
}

/// Run a script now on appliances of one application (every one rendered first; nothing runs if
/// one does not render).
pub async fn run(
    state: &AppState,
    ctx: &AuthCtx,
    id: ScriptId,
    req: RunScriptRequest,
) -> ApiResult<Vec<JobResponse>> {
    req.validate()?;
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<Vec<JobResponse>> {
            let (s, v) = usable(c, &ctx, id, req.version)?;
            let mut targets = Vec::new();
            for aid in &req.appliance_ids {
                targets.push(visible_appliance(c, &ctx, *aid)?);
            }
            let app = targets
                .first()
                .map(|a| a.application_id)
                .ok_or(ApiError::NotFound)?;
            if targets.iter().any(|a| a.application_id != app) {
                return Err(ApiError::field(
                    "appliance_ids",
                    "several_applications",
                    "the appliances must be of one application",
                ));
            }
            if let Some(down) = targets.iter().find(|a| !live(a.state)) {
                return Err(ApiError::field(
                    "appliance_ids",
                    "not_up",
                    format!(
                        "{} is {}, not configuring or running",
                        down.name,
                        down.state.as_str()
                    ),
                ));
            }
            let world = World::load(c, ctx.tenant_id, app, None)?.ok_or(ApiError::NotFound)?;
            let refs: Vec<&store::Appliance> = targets.iter().collect();
            let origin = Origin {
                purpose: JobPurpose::Manual,
                run: None,
            };
            let made =
                jobs::make(&world, &s, &v, &refs, None, &req.variables, origin).map_err(invalid)?;
            unscoped::automation::insert_jobs(c, &made)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "cloudscript.run")
                .object("cloudscript", s.id)
                .detail(json!({"version": v.version, "appliances": req.appliance_ids}))
                .record(c)?;
            Ok(made.into_iter().map(job_response).collect())
        })
        .await
}
