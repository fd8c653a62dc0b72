//! Chains of actions: a run goes through its steps in order; each step's start and end is stored as
//! it happens, so a run picked up again after a restart resumes at the step it was at and never runs
//! a finished step twice. What a step's end means for the run (retry, next step, stop) is the pure
//! [`conclude`].

use super::context::World;
use super::jobs::{self, Origin};
use chrono::{DateTime, Duration, Utc};
use common::api::{Action, JobPurpose, JobStatus, OnFailure, RunStatus, StepStatus};
use common::{ApplianceId, ApplicationId, GroupId};
use std::collections::HashMap;
use store::repo::{applications, events, locks, scripts, unscoped};
use store::{DbConn, Event, Run, StoreError};

/// How long a failed step waits before its next attempt.
pub fn retry_delay(attempts: u32) -> Duration {
    Duration::seconds(1_i64 << attempts.min(6))
}

/// Record that the current step ended (`ok`, with `output`) and move the run on: to the next step,
/// to another attempt of this one, or to its end. Pure.
pub fn conclude(run: &mut Run, ok: bool, output: String, now: DateTime<Utc>) {
    let i = run.step as usize;
    let Some(def) = run.chain.get(i).cloned() else {
        return;
    };
    let Some(sr) = run.steps.get_mut(i) else {
        return;
    };
    sr.output = output;
    sr.finished_at = Some(now);
    run.next_at = now;
    if ok {
        sr.status = StepStatus::Succeeded;
        run.step += 1;
    } else if sr.attempts <= def.retries {
        sr.status = StepStatus::Pending;
        sr.jobs.clear();
        run.next_at = now + retry_delay(sr.attempts);
        return;
    } else {
        sr.status = StepStatus::Failed;
        if def.on_failure == OnFailure::Continue {
            run.step += 1;
        } else {
            for later in run.steps.iter_mut().skip(i + 1) {
                later.status = StepStatus::Skipped;
            }
            run.status = RunStatus::Failed;
            run.finished_at = Some(now);
            return;
        }
    }
    end_if_done(run, now);
}

/// Past its last step a run ends: failed if any step failed (one that continued included).
fn end_if_done(run: &mut Run, now: DateTime<Utc>) {
    if run.step as usize >= run.chain.len() {
        let failed = run.steps.iter().any(|s| s.status == StepStatus::Failed);
        run.status = if failed {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        run.finished_at = Some(now);
    }
}

/// A step that ends without doing anything here (email until the installation has a mailer).
pub fn skip(run: &mut Run, why: &str, now: DateTime<Utc>) {
    let i = run.step as usize;
    if let Some(sr) = run.steps.get_mut(i) {
        sr.status = StepStatus::Skipped;
        sr.output = why.to_owned();
        sr.finished_at = Some(now);
    }
    run.step += 1;
    run.next_at = now;
    end_if_done(run, now);
}

/// What the engine must do outside the transaction for a step (an HTTP call).
#[derive(Clone, Debug, PartialEq)]
pub enum Outside {
    Nothing,
    Webhook {
        url: String,
        secret: Option<String>,
        body: String,
    },
}

/// The scripts and versions the runs of one transaction read, each read once: a version never
/// changes, and a script's latest version as read at the first of the transaction's runs holds for
/// the rest of them (a save meanwhile is for the next round).
#[derive(Debug, Default)]
pub struct Lookups {
    scripts: HashMap<(common::TenantId, common::ScriptId), Option<store::Script>>,
    versions: HashMap<(common::ScriptId, u32), Option<store::ScriptVersion>>,
}

impl Lookups {
    fn script(
        &mut self,
        c: &mut DbConn,
        tenant: common::TenantId,
        id: common::ScriptId,
    ) -> Result<Option<store::Script>, StoreError> {
        if let Some(s) = self.scripts.get(&(tenant, id)) {
            return Ok(s.clone());
        }
        let s = scripts::get(c, tenant, id)?;
        self.scripts.insert((tenant, id), s.clone());
        Ok(s)
    }

    fn version(
        &mut self,
        c: &mut DbConn,
        id: common::ScriptId,
        v: u32,
    ) -> Result<Option<store::ScriptVersion>, StoreError> {
        if let Some(s) = self.versions.get(&(id, v)) {
            return Ok(s.clone());
        }
        let s = scripts::version(c, id, v)?;
        self.versions.insert((id, v), s.clone());
        Ok(s)
    }
}

/// Start the current step (the run is locked and the step is pending): mark it running, and do
/// what can be done in this transaction (make the script jobs, change the group's size).
/// `world`: the run's application as last loaded in this transaction (reused by the next run of the
/// same application; a `scale` step clears it).
pub fn start(
    c: &mut DbConn,
    run: &mut Run,
    event: Option<&Event>,
    world: &mut Option<World>,
    lookups: &mut Lookups,
    now: DateTime<Utc>,
) -> Result<Outside, StoreError> {
    let i = run.step as usize;
    let Some(def) = run.chain.get(i).cloned() else {
        return Ok(Outside::Nothing);
    };
    if let Some(sr) = run.steps.get_mut(i) {
        sr.status = StepStatus::Running;
        sr.attempts += 1;
        sr.started_at = Some(now);
        sr.finished_at = None;
        sr.output.clear();
        sr.jobs.clear();
    }
    run.status = RunStatus::Running;
    run.next_at = now + Duration::seconds(i64::from(def.timeout_secs));
    match &def.action {
        Action::RunScript {
            script_id,
            version,
            target,
            variables,
        } => {
            let made = (|| -> Result<Result<Vec<store::Job>, String>, StoreError> {
                if world
                    .as_ref()
                    .is_none_or(|w| w.app.id != run.application_id)
                {
                    *world = World::load(c, run.tenant_id, run.application_id, run.appliance_id)?;
                }
                let Some(world) = world.as_mut() else {
                    return Ok(Err("the application is gone".into()));
                };
                world.include(c, run.appliance_id)?;
                let Some(script) = lookups.script(c, run.tenant_id, *script_id)? else {
                    return Ok(Err(format!("CloudScript {script_id} is gone")));
                };
                let v = version.unwrap_or(script.latest_version);
                let Some(version) = lookups.version(c, script.id, v)? else {
                    return Ok(Err(format!(
                        "CloudScript {} has no version {v}",
                        script.name
                    )));
                };
                let targets = world.targets(target, run.appliance_id);
                let origin = Origin {
                    purpose: JobPurpose::Action,
                    run: Some((run.id, run.step)),
                };
                Ok(
                    jobs::make(world, &script, &version, &targets, event, variables, origin)
                        .map_err(|e| e.to_string()),
                )
            })()?;
            match made {
                Ok(made) if made.is_empty() => conclude(
                    run,
                    true,
                    "no live appliance matches the target".into(),
                    now,
                ),
                Ok(made) => {
                    unscoped::automation::insert_jobs(c, &made)?;
                    if let Some(sr) = run.steps.get_mut(i) {
                        sr.jobs = made.iter().map(|j| j.id).collect();
                    }
                }
                Err(why) => conclude(run, false, why, now),
            }
            Ok(Outside::Nothing)
        }
        Action::Scale { group, by, to } => {
            *world = None;
            let (ok, output) = scale(
                c,
                run.tenant_id,
                run.application_id,
                group,
                *by,
                *to,
                run.event_id,
            )?;
            conclude(run, ok, output, now);
            Ok(Outside::Nothing)
        }
        Action::Email { .. } => {
            skip(
                run,
                "email is not delivered: this installation has no mailer configured",
                now,
            );
            Ok(Outside::Nothing)
        }
        Action::Webhook { url, secret } => {
            let body = serde_json::json!({
                "run_id": run.id,
                "rule_id": run.rule_id,
                "application_id": run.application_id,
                "event": event.map(|e| serde_json::json!({
                    "id": e.id, "type": e.type_, "at": e.at, "appliance_id": e.appliance_id,
                    "detail": e.detail,
                })),
                "step": run.step,
            })
            .to_string();
            Ok(Outside::Webhook {
                url: url.clone(),
                secret: secret.clone(),
                body,
            })
        }
    }
}

/// Look at a running `run_script` step: ended when all its jobs have; timed out after the step's
/// timeout (its open jobs are cancelled). Returns whether the step changed.
pub fn check_jobs(c: &mut DbConn, run: &mut Run, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let i = run.step as usize;
    let (Some(def), Some(sr)) = (run.chain.get(i).cloned(), run.steps.get(i).cloned()) else {
        return Ok(false);
    };
    let jobs = unscoped::automation::jobs(c, &sr.jobs)?;
    let names: HashMap<ApplianceId, String> = unscoped::appliances::get_many(
        c,
        &jobs.iter().map(|j| j.appliance_id).collect::<Vec<_>>(),
    )?
    .into_iter()
    .map(|a| (a.id, a.name))
    .collect();
    let summary = |jobs: &[store::Job]| {
        jobs.iter()
            .map(|j| {
                let name = names.get(&j.appliance_id).cloned().unwrap_or_default();
                let code = j
                    .exit_code
                    .map(|c| format!(" (exit {c})"))
                    .unwrap_or_default();
                format!("{name}: {}{code}", status_name(j.status))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    if jobs.iter().all(|j| j.status.finished()) {
        let ok = jobs.iter().all(|j| j.status == JobStatus::Succeeded);
        conclude(run, ok, summary(&jobs), now);
        return Ok(true);
    }
    let started = sr.started_at.unwrap_or(now);
    if now >= started + Duration::seconds(i64::from(def.timeout_secs)) {
        for j in jobs.iter().filter(|j| !j.status.finished()) {
            jobs::abandon(c, j, JobStatus::Cancelled, "the step timed out")?;
        }
        let jobs = unscoped::automation::jobs(c, &sr.jobs)?;
        let why = format!("timed out after {} s\n{}", def.timeout_secs, summary(&jobs));
        conclude(run, false, why, now);
        return Ok(true);
    }
    Ok(false)
}

fn status_name(s: JobStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A `scale` step: the named group's desired size changed by `by` or to `to`, kept within its min
/// and max and the tenant's quota (`scale.out` / `scale.in` recorded).
fn scale(
    c: &mut DbConn,
    tenant: common::TenantId,
    app: ApplicationId,
    group: &str,
    by: Option<i32>,
    to: Option<u32>,
    cause: common::EventId,
) -> Result<(bool, String), StoreError> {
    locks::tenant(c, tenant)?;
    let Some(g) = unscoped::applications::groups(c, app)?
        .into_iter()
        .find(|g| g.name == group)
    else {
        return Ok((
            false,
            format!("the application has no group named {group:?}"),
        ));
    };
    locks::lock(c, locks::Table::Groups, &g.id.to_string())?;
    let Some(mut g) = applications::get_group(c, tenant, g.id)? else {
        return Ok((false, format!("the group {group:?} is gone")));
    };
    let from = g.size.desired;
    let want = match (by, to) {
        (_, Some(n)) => i64::from(n),
        (Some(d), None) => i64::from(from) + i64::from(d),
        (None, None) => i64::from(from),
    };
    let target =
        u32::try_from(want.clamp(i64::from(g.size.min), i64::from(g.size.max))).unwrap_or(from);
    if target == from {
        return Ok((
            true,
            format!(
                "{group} stays at {from} (min {}, max {})",
                g.size.min, g.size.max
            ),
        ));
    }
    let over = crate::quota::over_quota(
        c,
        tenant,
        &HashMap::<GroupId, u32>::from([(g.id, target)]),
        None,
    )?;
    if let Some((name, limit, want)) = over
        && target > from
    {
        return Ok((
            false,
            format!("{group} stays at {from}: {want} would exceed the {name} quota of {limit}"),
        ));
    }
    g.size.desired = target;
    g.updated_at = store::time::now();
    applications::save_group(c, tenant, &g)?;
    unscoped::applications::touch(c, app)?;
    let type_ = if target > from {
        "scale.out"
    } else {
        "scale.in"
    };
    let detail =
        serde_json::json!({"group": group, "from": from, "to": target, "cause": cause}).to_string();
    events::record(
        c,
        tenant,
        type_,
        &events::Subject {
            application: Some(app),
            ..Default::default()
        },
        &detail,
    )?;
    Ok((true, format!("{group}: {from} → {target}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use common::api::{Step, StepRun, Target};
    use common::{EventId, RuleId, RunId, ScriptId, TenantId};

    fn step(retries: u32, on_failure: OnFailure) -> Step {
        Step {
            action: Action::RunScript {
                script_id: ScriptId::new(),
                version: None,
                target: Target::All,
                variables: Default::default(),
            },
            timeout_secs: 60,
            retries,
            on_failure,
        }
    }

    fn run(chain: Vec<Step>) -> Run {
        let now = store::time::now();
        Run {
            id: RunId::new(),
            tenant_id: TenantId::new(),
            application_id: ApplicationId::new(),
            rule_id: RuleId::new(),
            event_id: EventId::new(),
            event_type: "appliance.came_alive".into(),
            appliance_id: None,
            status: RunStatus::Running,
            step: 0,
            steps: chain.iter().map(|_| StepRun::pending()).collect(),
            chain,
            next_at: now,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    fn attempt(r: &mut Run) {
        let i = r.step as usize;
        r.steps[i].status = StepStatus::Running;
        r.steps[i].attempts += 1;
    }

    #[test]
    fn steps_go_in_order_and_the_last_ends_the_run() {
        let now = store::time::now();
        let mut r = run(vec![step(0, OnFailure::Stop), step(0, OnFailure::Stop)]);
        attempt(&mut r);
        conclude(&mut r, true, "one".into(), now);
        assert_eq!((r.step, r.status), (1, RunStatus::Running));
        attempt(&mut r);
        conclude(&mut r, true, "two".into(), now);
        assert_eq!((r.step, r.status), (2, RunStatus::Succeeded));
        assert_eq!(r.steps[1].output, "two");
        assert!(r.finished_at.is_some());
    }

    #[test]
    fn a_failure_retries_then_stops_or_continues() {
        let now = store::time::now();
        let mut r = run(vec![step(1, OnFailure::Stop), step(0, OnFailure::Stop)]);
        attempt(&mut r);
        conclude(&mut r, false, "boom".into(), now);
        assert_eq!(r.steps[0].status, StepStatus::Pending, "one retry left");
        assert_eq!(r.next_at, now + retry_delay(1));
        attempt(&mut r);
        conclude(&mut r, false, "boom".into(), now);
        assert_eq!(r.status, RunStatus::Failed);
        assert_eq!(r.steps[1].status, StepStatus::Skipped);

        let mut r = run(vec![step(0, OnFailure::Continue), step(0, OnFailure::Stop)]);
        attempt(&mut r);
        conclude(&mut r, false, "boom".into(), now);
        assert_eq!((r.step, r.status), (1, RunStatus::Running));
        attempt(&mut r);
        conclude(&mut r, true, "ok".into(), now);
        assert_eq!(
            r.status,
            RunStatus::Failed,
            "a failed step shows in the run's end"
        );
        assert_eq!(r.steps[1].status, StepStatus::Succeeded);
    }

    #[test]
    fn skipped_steps_move_on() {
        let now = store::time::now();
        let mut r = run(vec![step(0, OnFailure::Stop)]);
        skip(&mut r, "no mailer", now);
        assert_eq!((r.step, r.status), (1, RunStatus::Succeeded));
        assert_eq!(r.steps[0].status, StepStatus::Skipped);
    }

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        assert_eq!(retry_delay(1), Duration::seconds(2));
        assert_eq!(retry_delay(3), Duration::seconds(8));
        assert_eq!(retry_delay(40), Duration::seconds(64));
    }
}
