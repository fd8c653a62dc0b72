//! Script jobs: made by rendering a script for each target appliance, pulled by the appliance's
//! agent, ended by its report (or by the engine when they time out or their appliance goes). An
//! appliance's install scripts run one after another while it is `configuring`; the last success
//! makes it `running` (`appliance.configured`), any failure makes it `failed`
//! (`appliance.config_failed`, with the script's output).

use super::context::World;
use super::render::{self, RenderError};
use common::agent::{JOB_OUTPUT_MAX, JobResult};
use common::api::{JobPurpose, JobStatus};
use common::{ApplianceState, JobId, RunId};
use serde_json::Value;
use std::collections::BTreeMap;
use store::repo::events::Subject;
use store::repo::{appliances, events, scripts, unscoped};
use store::time::now;
use store::{Appliance, DbConn, Event, Job, Script, ScriptVersion, StoreError};

/// What a job is for.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    pub purpose: JobPurpose,
    /// The run and step of an action's job.
    pub run: Option<(RunId, u32)>,
}

/// Render `version` of `script` for each target; nothing is made unless every render succeeds.
#[allow(clippy::too_many_arguments)]
pub fn make(
    world: &World,
    script: &Script,
    version: &ScriptVersion,
    targets: &[&Appliance],
    event: Option<&Event>,
    supplied: &BTreeMap<String, Value>,
    origin: Origin,
) -> Result<Vec<Job>, RenderError> {
    targets
        .iter()
        .map(|a| {
            let ctx = world.context(Some(a), event);
            let r = super::sandbox::render(&version.body, &version.variables, &ctx, supplied)?;
            Ok(Job {
                id: JobId::new(),
                tenant_id: a.tenant_id,
                application_id: a.application_id,
                appliance_id: a.id,
                run_id: origin.run.map(|r| r.0),
                step: origin.run.map(|r| r.1),
                purpose: origin.purpose,
                script_id: script.id,
                script_name: script.name.clone(),
                version: version.version,
                shown: r.masked_script(),
                body: r.script,
                env: r.env,
                secrets: r.secrets,
                timeout_secs: version.timeout_secs,
                status: JobStatus::Queued,
                exit_code: None,
                stdout: String::new(),
                stderr: String::new(),
                created_at: now(),
                started_at: None,
                finished_at: None,
            })
        })
        .collect()
}

fn bounded(text: &str, secrets: &[String]) -> String {
    let masked = render::mask(text, secrets);
    if masked.len() <= JOB_OUTPUT_MAX {
        return masked;
    }
    let mut end = JOB_OUTPUT_MAX;
    while !masked.is_char_boundary(end) {
        end -= 1;
    }
    masked[..end].to_owned()
}

/// End a job with what its agent reported (masked, bounded). Returns the job as it was, or `None`
/// when the appliance has no such job; a job already ended stays as it is.
pub fn report(
    c: &mut DbConn,
    appliance: &Appliance,
    id: JobId,
    result: &JobResult,
) -> Result<Option<Job>, StoreError> {
    let Some(job) = unscoped::automation::job_of(c, appliance.id, id)? else {
        return Ok(None);
    };
    let status = if result.timed_out {
        JobStatus::TimedOut
    } else if result.exit_code == Some(0) {
        JobStatus::Succeeded
    } else {
        JobStatus::Failed
    };
    let ended = unscoped::automation::finish_job(
        c,
        job.id,
        status,
        result.exit_code,
        &bounded(&result.stdout, &job.secrets),
        &bounded(&result.stderr, &job.secrets),
        now(),
    )?;
    if ended {
        after_end(c, &job)?;
    }
    Ok(Some(job))
}

/// End a job the engine gives up on (timeout, appliance gone).
pub fn abandon(c: &mut DbConn, job: &Job, status: JobStatus, why: &str) -> Result<(), StoreError> {
    if unscoped::automation::finish_job(c, job.id, status, None, "", why, now())? {
        after_end(c, job)?;
    }
    Ok(())
}

/// What follows the end of a job: the next install step, or a look at its run.
fn after_end(c: &mut DbConn, job: &Job) -> Result<(), StoreError> {
    match (job.purpose, job.run_id) {
        (JobPurpose::Install, _) => {
            if let Some(a) = unscoped::appliances::get(c, job.appliance_id)? {
                install_progress(c, &a)?;
            }
        }
        (_, Some(run)) => unscoped::automation::wake_run(c, run, now())?,
        _ => {}
    }
    Ok(())
}

fn subject(a: &Appliance) -> Subject {
    Subject {
        application: Some(a.application_id),
        appliance: Some(a.id),
        host: a.host_id,
    }
}

fn config_failed(
    c: &mut DbConn,
    a: &Appliance,
    why: &str,
    detail: Value,
) -> Result<(), StoreError> {
    match appliances::transition(c, a, ApplianceState::Failed, why) {
        Ok(_) => {
            events::record(
                c,
                a.tenant_id,
                "appliance.config_failed",
                &subject(a),
                &detail.to_string(),
            )?;
            unscoped::applications::touch(c, a.application_id)
        }
        Err(StoreError::Stale | StoreError::IllegalTransition { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Drive a configuring appliance through its template's install scripts: start the next one, or
/// finish (running, or failed with the failing script's output). Idempotent: a call that finds the
/// current script still running changes nothing.
pub fn install_progress(c: &mut DbConn, a: &Appliance) -> Result<(), StoreError> {
    if a.state != ApplianceState::Configuring {
        return Ok(());
    }
    let template = unscoped::templates::get(c, a.template_id)?;
    // a global template installs with the library's scripts only; a tenant's template with its
    // tenant's scripts first, then the library's
    let owner = template.as_ref().and_then(|t| t.tenant_id);
    let wanted = template.map(|t| t.install_scripts).unwrap_or_default();
    let done = unscoped::automation::install_jobs(c, a.id)?;
    if let Some(bad) = done
        .iter()
        .find(|j| j.status.finished() && j.status != JobStatus::Succeeded)
    {
        let detail = serde_json::json!({
            "script": bad.script_name,
            "status": bad.status,
            "exit_code": bad.exit_code,
            "stdout": tail(&bad.stdout),
            "stderr": tail(&bad.stderr),
        });
        let why = format!(
            "install script {} ended {}",
            bad.script_name,
            status_word(bad.status)
        );
        return config_failed(c, a, &why, detail);
    }
    if done.iter().any(|j| !j.status.finished()) {
        return Ok(());
    }
    let Some(next) = wanted.get(done.len()) else {
        if let Ok(moved) = appliances::transition(c, a, ApplianceState::Running, "configured") {
            events::record(c, a.tenant_id, "appliance.configured", &subject(&moved), "")?;
            unscoped::applications::touch(c, a.application_id)?;
        }
        return Ok(());
    };
    let made = (|| -> Result<Vec<Job>, String> {
        let script = scripts::by_name(c, owner, next)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no CloudScript named {next}"))?;
        let version = scripts::version(c, script.id, script.latest_version)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "CloudScript {next} has no version {}",
                    script.latest_version
                )
            })?;
        let world = World::load(c, a.tenant_id, a.application_id, None)
            .map_err(|e| e.to_string())?
            .ok_or("the application is gone")?;
        let origin = Origin {
            purpose: JobPurpose::Install,
            run: None,
        };
        make(
            &world,
            &script,
            &version,
            &[a],
            None,
            &BTreeMap::new(),
            origin,
        )
        .map_err(|e| e.to_string())
    })();
    match made {
        Ok(jobs) => unscoped::automation::insert_jobs(c, &jobs),
        Err(why) => config_failed(
            c,
            a,
            &format!("install script {next}: {why}"),
            serde_json::json!({"script": next, "error": why}),
        ),
    }
}

fn status_word(s: JobStatus) -> &'static str {
    match s {
        JobStatus::TimedOut => "by timing out",
        JobStatus::Cancelled => "cancelled",
        _ => "with a failure",
    }
}

/// The last 4 KiB of an output (event details stay small).
fn tail(s: &str) -> &str {
    let mut start = s.len().saturating_sub(4096);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
