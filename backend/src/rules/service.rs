//! Rules for event rules: members of a project see and change its applications' rules, runs and
//! jobs. A rule is checked whole before it is stored: its event type and condition or schedule fit
//! together, every `run_script` step names a script and version the caller may use with variables
//! that render for this application, every `scale` step names one of its groups, webhooks are
//! http(s) URLs. Webhook secrets are never shown again (`********`; sending that back keeps them).

use crate::applications::service::{visible_app, visible_appliance};
use crate::auth::AuthCtx;
use crate::cloudscripts::service::{invalid, job_response, visible as visible_script};
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{
    Action, CreateRuleRequest, JobResponse, MASK, Page, PageQuery, RuleOrigin, RuleResponse,
    RunResponse, Step, UpdateRuleRequest,
};
use common::{ApplianceId, ApplicationId, FieldError, JobId, RuleId, RunId};
use orchestrator::automation::context::World;
use orchestrator::automation::engine::{
    SCHEDULE_MIN_INTERVAL_SECS, fires_within_a_minute, next_fire,
};
use orchestrator::automation::{render, sandbox};
use serde_json::json;
use store::repo::{audit, jobs, rules, runs, scripts};
use store::time::now;
use store::{DbConn, Rule, Run};
use validator::Validate;

fn field(field: String, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![FieldError {
        field,
        code: code.into(),
        message: message.into(),
    }])
}

fn masked(steps: &[Step]) -> Vec<Step> {
    steps
        .iter()
        .cloned()
        .map(|mut s| {
            if let Action::Webhook { secret, .. } = &mut s.action
                && secret.is_some()
            {
                *secret = Some(MASK.into());
            }
            s
        })
        .collect()
}

/// The names of the variables a `run_script` step's script declares secret in any of its versions
/// (none for other steps, or when the script is gone): a value given while its variable was secret
/// stays masked after a later version stops declaring it so.
fn secret_vars(c: &mut DbConn, tenant: common::TenantId, step: &Step) -> ApiResult<Vec<String>> {
    let Action::RunScript { script_id, .. } = &step.action else {
        return Ok(Vec::new());
    };
    let Some(s) = scripts::get(c, tenant, *script_id)? else {
        return Ok(Vec::new());
    };
    Ok(scripts::secret_names(c, s.id)?)
}

/// A rule as answers show it: webhook secrets and the values of secret script variables masked.
pub fn respond(c: &mut DbConn, r: Rule) -> ApiResult<RuleResponse> {
    let mut steps = masked(&r.steps);
    for step in steps.iter_mut() {
        let secret = secret_vars(c, r.tenant_id, step)?;
        if let Action::RunScript { variables, .. } = &mut step.action {
            for (k, v) in variables.iter_mut() {
                if secret.contains(k) {
                    *v = serde_json::Value::String(MASK.into());
                }
            }
        }
    }
    Ok(RuleResponse {
        id: r.id,
        application_id: r.application_id,
        name: r.name,
        event_type: r.event_type,
        filter: r.filter,
        condition: r.condition,
        cooldown_secs: r.cooldown_secs,
        schedule: r.schedule,
        steps,
        enabled: r.enabled,
        origin: r.origin,
        last_fired_at: r.last_fired_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Secret variable values sent back masked keep the stored ones: only at the same step position, for
/// the same script at the same pin. A mask for a secret variable that cannot be resolved so (the step
/// moved, its script or pin changed, a new rule) is refused rather than stored as the value.
fn keep_secret_values(
    c: &mut DbConn,
    tenant: common::TenantId,
    new: &mut [Step],
    old: &[Step],
) -> ApiResult<()> {
    for (i, s) in new.iter_mut().enumerate() {
        // the script's declarations are read only for a step that sends a mask back
        let masked = matches!(&s.action, Action::RunScript { variables, .. }
            if variables.values().any(|v| v.as_str() == Some(MASK)));
        if !masked {
            continue;
        }
        let secret = secret_vars(c, tenant, s)?;
        let Action::RunScript {
            script_id,
            version,
            variables,
            ..
        } = &mut s.action
        else {
            continue;
        };
        let kept = match old.get(i).map(|o| &o.action) {
            Some(Action::RunScript {
                script_id: was,
                version: pinned,
                variables: kept,
                ..
            }) if was == script_id && pinned == version => Some(kept),
            _ => None,
        };
        for (k, v) in variables.iter_mut() {
            if v.as_str() != Some(MASK) {
                continue;
            }
            // the mask sent back where a value is stored keeps it, even when the variable has
            // stopped being secret since it was shown; elsewhere it is refused for a secret
            // variable and is the value itself for another
            match kept.and_then(|kept| kept.get(k)) {
                Some(stored) => *v = stored.clone(),
                None if !secret.contains(k) => {}
                None => {
                    return Err(field(
                        format!("steps[{i}].action.variables.{k}"),
                        "masked_secret",
                        "type the secret value again: it was stored for another step, script or version",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn run_response(r: Run) -> RunResponse {
    RunResponse {
        id: r.id,
        application_id: r.application_id,
        rule_id: r.rule_id,
        event_id: r.event_id,
        event_type: r.event_type,
        appliance_id: r.appliance_id,
        status: r.status,
        step: r.step,
        steps: r.steps,
        created_at: r.created_at,
        finished_at: r.finished_at,
    }
}

/// Webhook secrets sent back masked keep the stored ones: only for the same step position and the
/// same URL (a masked secret cannot follow a webhook to another receiver).
fn keep_secrets(new: &mut [Step], old: &[Step]) -> ApiResult<()> {
    for (i, s) in new.iter_mut().enumerate() {
        if let Action::Webhook { secret, url } = &mut s.action
            && secret.as_deref() == Some(MASK)
        {
            match old.get(i).map(|o| &o.action) {
                Some(Action::Webhook {
                    secret: kept,
                    url: was,
                }) if was == url => *secret = kept.clone(),
                _ => {
                    return Err(field(
                        format!("steps[{i}].action.secret"),
                        "masked_secret",
                        "send the secret itself: this step's URL is not the one the secret was given for",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Check a rule as it would be stored, against its application.
/// `report_ms`: how often agents report metrics (a condition's window must hold two reports).
fn check(c: &mut DbConn, ctx: &AuthCtx, rule: &Rule, report_ms: u64) -> ApiResult<()> {
    common::api::event_type(&rule.event_type).map_err(|_| {
        field(
            "event_type".into(),
            "unknown_event_type",
            "is not an event rules can take",
        )
    })?;
    match (rule.event_type.as_str(), &rule.condition) {
        ("metric.threshold", None) => {
            return Err(field(
                "condition".into(),
                "required",
                "a metric.threshold rule needs a condition",
            ));
        }
        ("metric.threshold", Some(cond)) if u64::from(cond.window_secs) * 1000 < 2 * report_ms => {
            return Err(field(
                "condition.window_secs".into(),
                "window_too_short",
                format!(
                    "must hold at least two metric reports: at least {} s here",
                    (2 * report_ms).div_ceil(1000)
                ),
            ));
        }
        ("metric.threshold", Some(_)) => {}
        (_, Some(_)) => {
            return Err(field(
                "condition".into(),
                "not_allowed",
                "only metric.threshold rules have a condition",
            ));
        }
        _ => {}
    }
    match (rule.event_type.as_str(), &rule.schedule) {
        ("schedule.fired", None) => {
            return Err(field(
                "schedule".into(),
                "required",
                "a schedule.fired rule needs a schedule",
            ));
        }
        ("schedule.fired", Some(expr)) if next_fire(expr, now()).is_none() => {
            return Err(field(
                "schedule".into(),
                "never_fires",
                "is not a cron expression (seconds minutes hours day-of-month month day-of-week, UTC) that ever fires",
            ));
        }
        ("schedule.fired", Some(expr)) if fires_within_a_minute(expr, now()) => {
            return Err(field(
                "schedule".into(),
                "too_often",
                format!(
                    "fires more often than once every {SCHEDULE_MIN_INTERVAL_SECS} seconds (a run is made each time)"
                ),
            ));
        }
        ("schedule.fired", Some(_)) => {}
        (_, Some(_)) => {
            return Err(field(
                "schedule".into(),
                "not_allowed",
                "only schedule.fired rules have a schedule",
            ));
        }
        _ => {}
    }
    let world =
        World::load(c, rule.tenant_id, rule.application_id, None)?.ok_or(ApiError::NotFound)?;
    // a sample context of this application: its own layers, a made-up appliance in its first layer
    let mut sample = world.context(world.appliances.first(), None);
    let fake = render::Context::sample();
    if sample.appliance.is_none() {
        sample.appliance = fake.appliance.clone();
        sample.group = fake.group.clone();
        sample.layer = sample.layers.first().cloned().or(fake.layer.clone());
    }
    sample.event = fake.event.clone().map(|mut e| {
        e.type_ = rule.event_type.clone();
        if let (Some(a), Some(l)) = (e.appliance.as_mut(), world.layers.first()) {
            a.layer = l.name.clone();
        }
        e
    });
    for (i, step) in rule.steps.iter().enumerate() {
        step.validate()?;
        let at = |f: &str| format!("steps[{i}].action.{f}");
        match &step.action {
            Action::RunScript {
                script_id,
                version,
                variables,
                ..
            } => {
                let s = visible_script(c, ctx, *script_id)
                    .map_err(|_| field(at("script_id"), "unknown_script", "no such CloudScript"))?;
                let n = version.unwrap_or(s.latest_version);
                let v = scripts::version(c, s.id, n)?.ok_or_else(|| {
                    field(
                        at("version"),
                        "unknown_version",
                        format!("{} has no version {n}", s.name),
                    )
                })?;
                sandbox::check_values(&v.variables, variables, &sample, true).map_err(|e| {
                    let mut err = invalid(e);
                    if let ApiError::Validation(list) = &mut err {
                        for f in list.iter_mut() {
                            f.field = format!("steps[{i}].action.{}", f.field);
                        }
                    }
                    err
                })?;
            }
            Action::Scale { group, by, to } => {
                if by.is_some() == to.is_some() {
                    return Err(field(at("by"), "by_or_to", "give exactly one of by and to"));
                }
                if !world.groups.iter().any(|g| &g.name == group) {
                    return Err(field(
                        at("group"),
                        "unknown_group",
                        format!("the application has no group {group:?}"),
                    ));
                }
            }
            Action::Email { to, subject, body } => {
                let bad = to.is_empty()
                    || to.len() > 20
                    || to
                        .iter()
                        .any(|t| t.len() > 254 || !validator::ValidateEmail::validate_email(t));
                if bad {
                    return Err(field(at("to"), "invalid_email", "1 to 20 email addresses"));
                }
                if subject.is_empty() || subject.len() > 200 || body.len() > 10_000 {
                    return Err(field(
                        at("subject"),
                        "invalid",
                        "a subject of 1 to 200 bytes and a body of at most 10,000",
                    ));
                }
            }
            Action::Webhook { url, secret } => {
                if !orchestrator::automation::webhook::valid_url(url) {
                    return Err(field(
                        at("url"),
                        "invalid_url",
                        "an http or https URL of at most 2,000 bytes",
                    ));
                }
                if secret
                    .as_ref()
                    .is_some_and(|s| s.is_empty() || s.len() > 200)
                {
                    return Err(field(at("secret"), "invalid", "1 to 200 bytes"));
                }
            }
        }
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    ctx: &AuthCtx,
    app: ApplicationId,
    req: CreateRuleRequest,
) -> ApiResult<RuleResponse> {
    req.validate()?;
    let ctx = ctx.clone();
    let limits = state.config.limits;
    let report_ms = state.config.heartbeat_ms * 2;
    state
        .store
        .write(move |c| -> ApiResult<RuleResponse> {
            store::repo::locks::tenant(c, ctx.tenant_id)?;
            let application = visible_app(c, &ctx, app)?;
            crate::limits::check(
                "rules",
                rules::count(c, ctx.tenant_id, application.id)?,
                limits.rules_per_application,
            )?;
            let at = now();
            let mut rule = Rule {
                id: RuleId::new(),
                tenant_id: ctx.tenant_id,
                application_id: application.id,
                name: req.name.trim().to_owned(),
                event_type: req.event_type,
                filter: req.filter,
                condition: req.condition,
                cooldown_secs: req.cooldown_secs,
                schedule: req.schedule,
                steps: req.steps,
                enabled: req.enabled,
                origin: RuleOrigin::User,
                last_fired_at: None,
                created_at: at,
                updated_at: at,
            };
            if rule.steps.iter().any(|s| matches!(&s.action, Action::Webhook { secret: Some(s), .. } if s == MASK)) {
                return Err(field("steps".into(), "masked_secret", "send the webhook's secret itself"));
            }
            keep_secret_values(c, ctx.tenant_id, &mut rule.steps, &[])?;
            check(c, &ctx, &rule, report_ms)?;
            rules::insert(c, &rule)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "rule.create")
                .object("rule", rule.id)
                .detail(json!({"application_id": app, "name": rule.name, "event_type": rule.event_type}))
                .record(c)?;
            respond(c, rule)
        })
        .await
}

fn visible_rule(c: &mut DbConn, ctx: &AuthCtx, id: RuleId, lock: bool) -> ApiResult<Rule> {
    let r = if lock {
        rules::get_locked(c, ctx.tenant_id, id)?
    } else {
        rules::get(c, ctx.tenant_id, id)?
    }
    .ok_or(ApiError::NotFound)?;
    visible_app(c, ctx, r.application_id)?;
    Ok(r)
}

pub async fn get(state: &AppState, ctx: &AuthCtx, id: RuleId) -> ApiResult<RuleResponse> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| {
            let r = visible_rule(c, &ctx, id, false)?;
            respond(c, r)
        })
        .await
}

pub async fn list(
    state: &AppState,
    ctx: &AuthCtx,
    app: ApplicationId,
    q: &PageQuery,
) -> ApiResult<Page<RuleResponse>> {
    let page = pagination::request(q)?;
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<Page<RuleResponse>> {
            visible_app(c, &ctx, app)?;
            let found = rules::list(c, ctx.tenant_id, app, &page)?;
            let mut items = Vec::with_capacity(found.items.len());
            for r in found.items {
                items.push(respond(c, r)?);
            }
            Ok(pagination::respond(store::repo::Page {
                items,
                next_after: found.next_after,
            }))
        })
        .await
}

pub async fn update(
    state: &AppState,
    ctx: &AuthCtx,
    id: RuleId,
    req: UpdateRuleRequest,
) -> ApiResult<RuleResponse> {
    req.validate()?;
    let report_ms = state.config.heartbeat_ms * 2;
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<RuleResponse> {
            let mut rule = visible_rule(c, &ctx, id, true)?;
            if let Some(n) = req.name {
                rule.name = n.trim().to_owned();
            }
            if let Some(f) = req.filter {
                rule.filter = f;
            }
            if req.condition.is_some() {
                rule.condition = req.condition;
            }
            if let Some(cd) = req.cooldown_secs {
                rule.cooldown_secs = cd;
            }
            if req.schedule.is_some() {
                rule.schedule = req.schedule;
            }
            if let Some(mut steps) = req.steps {
                keep_secrets(&mut steps, &rule.steps)?;
                keep_secret_values(c, ctx.tenant_id, &mut steps, &rule.steps)?;
                rule.steps = steps;
            }
            if let Some(e) = req.enabled {
                rule.enabled = e;
            }
            rule.updated_at = now();
            check(c, &ctx, &rule, report_ms)?;
            rules::save(c, &rule)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "rule.update")
                .object("rule", rule.id)
                .record(c)?;
            respond(c, rule)
        })
        .await
}

pub async fn delete(state: &AppState, ctx: &AuthCtx, id: RuleId) -> ApiResult<()> {
    let ctx = ctx.clone();
    state
        .store
        .write(move |c| -> ApiResult<()> {
            let rule = visible_rule(c, &ctx, id, true)?;
            rules::delete(c, ctx.tenant_id, rule.id)?;
            audit::Entry::new(ctx.tenant_id, &ctx.actor(), "rule.delete")
                .object("rule", rule.id)
                .record(c)?;
            Ok(())
        })
        .await
}

/// Runs of an application, or of one of its rules, newest first.
pub async fn runs(
    state: &AppState,
    ctx: &AuthCtx,
    app: Option<ApplicationId>,
    rule: Option<RuleId>,
    q: &PageQuery,
) -> ApiResult<Page<RunResponse>> {
    let page = pagination::request(q)?;
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<Page<RunResponse>> {
            if let Some(a) = app {
                visible_app(c, &ctx, a)?;
            }
            if let Some(r) = rule {
                visible_rule(c, &ctx, r, false)?;
            }
            Ok(pagination::respond_map(
                runs::list(c, ctx.tenant_id, app, rule, &page)?,
                run_response,
            ))
        })
        .await
}

pub async fn run(state: &AppState, ctx: &AuthCtx, id: RunId) -> ApiResult<RunResponse> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<RunResponse> {
            let r = runs::get(c, ctx.tenant_id, id)?.ok_or(ApiError::NotFound)?;
            visible_app(c, &ctx, r.application_id)?;
            Ok(run_response(r))
        })
        .await
}

/// An appliance's script jobs, newest first.
pub async fn appliance_jobs(
    state: &AppState,
    ctx: &AuthCtx,
    id: ApplianceId,
    q: &PageQuery,
) -> ApiResult<Page<JobResponse>> {
    let page = pagination::request(q)?;
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<Page<JobResponse>> {
            let a = visible_appliance(c, &ctx, id)?;
            Ok(pagination::respond_map(
                jobs::of_appliance(c, ctx.tenant_id, a.id, &page)?,
                job_response,
            ))
        })
        .await
}

pub async fn job(state: &AppState, ctx: &AuthCtx, id: JobId) -> ApiResult<JobResponse> {
    let ctx = ctx.clone();
    state
        .store
        .read(move |c| -> ApiResult<JobResponse> {
            let j = jobs::get(c, ctx.tenant_id, id)?.ok_or(ApiError::NotFound)?;
            visible_app(c, &ctx, j.application_id)?;
            Ok(job_response(j))
        })
        .await
}
