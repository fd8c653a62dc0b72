//! The automation engine: one loop, run by the orchestrator holding the `automation` lease, that
//! - dispatches new events to the rules they fire (one run per event and rule: the unique key on
//!   `(event_id, rule_id)` makes a second delivery a no-op), in the transaction that marks them
//!   dispatched;
//! - fires schedules (`schedule.fired`, cron in UTC);
//! - moves runs on, each application's runs one at a time in event order;
//! - ends jobs whose timeout passed or whose appliance went away.
//!
//! Guarantees: every event is dispatched once it is committed (at least once: a crash before the
//! commit dispatches it again, and the unique key keeps one run); a run's progress is stored at each
//! step's start and end, so a restarted engine resumes it. Assumptions: one engine at a time (the
//! lease); webhooks may be delivered twice after a crash mid-call (each carries a delivery id).

use super::chain::{self, Outside};
use super::context::{World, live};
use super::metrics::{Hold, Window};
use super::rules::{self, Subject};
use chrono::{DateTime, Utc};
use common::api::{JobStatus, RunStatus, StepRun, StepStatus};
use common::{ApplicationId, EventId, RunId};
use std::collections::{HashMap, HashSet};
use store::repo::{events, unscoped};
use store::time::now;
use store::{DbConn, Event, Rule, Run, Store, StoreError};

/// The lease the engine's loop holds.
pub const LEASE: &str = "automation";
/// Events dispatched per transaction.
const DISPATCH_BATCH: i64 = 500;
/// Open runs an application may have: past them, an event's runs are stored as failed, not run
/// (runs of one application go one after another, so a flood of events would otherwise queue work
/// for hours).
pub const MAX_OPEN_RUNS: i64 = 500;
/// Runs moved on per round.
const RUNS_PER_ROUND: i64 = 64;
/// Runs of one application moved on one after another in a round (when each ends at once).
const RUNS_PER_APP: usize = 16;
/// Transactions that move runs on at once (PostgreSQL runs them side by side; SQLite one by one).
const WRITERS: usize = 4;
/// A job may run this long past its own timeout (the agent kills it at the timeout and reports).
const JOB_GRACE_SECS: i64 = 30;

/// Dispatch up to one batch of events; returns how many were dispatched.
pub fn dispatch(c: &mut DbConn) -> Result<usize, StoreError> {
    let batch = unscoped::automation::undispatched(c, DISPATCH_BATCH)?;
    if batch.is_empty() {
        return Ok(0);
    }
    let apps: Vec<ApplicationId> = batch
        .iter()
        .filter_map(|e| e.application_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut by_app: HashMap<ApplicationId, Vec<Rule>> = HashMap::new();
    for r in unscoped::automation::rules_of(c, &apps)? {
        by_app.entry(r.application_id).or_default().push(r);
    }
    let mut worlds: HashMap<ApplicationId, Option<World>> = HashMap::new();
    // the open runs of the batch's applications, counted in one query and kept up as runs are added
    let mut open = unscoped::automation::open_runs_of(c, &apps)?;
    for e in &batch {
        let Some(app) = e.application_id else {
            continue;
        };
        let Some(rules) = by_app.get_mut(&app) else {
            continue;
        };
        if !rules.iter().any(|r| r.event_type == e.type_) {
            continue;
        }
        // the layer, group and role of the event's appliance, read only for rules that filter on them
        let filtered = rules
            .iter()
            .any(|r| r.event_type == e.type_ && !rules::unfiltered(&r.filter));
        let subject = match e.appliance_id {
            Some(id) if filtered => {
                let world = match worlds.entry(app) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(World::load(c, e.tenant_id, app, e.appliance_id)?)
                    }
                };
                let Some(world) = world else {
                    continue;
                };
                // the cached world may lack this event's appliance (a second terminated one of a batch)
                world.include(c, Some(id))?;
                world.appliance(id).map(|a| Subject {
                    layer: world.layer_of(a),
                    group: world.group_of(a),
                    role: world.role_of(a),
                })
            }
            _ => None,
        };
        for r in rules.iter_mut() {
            // a schedule keeps its own cadence; a cooldown of 0 never holds an event back (one
            // committed late, with an earlier time, included)
            let held = r.cooldown_secs > 0
                && e.type_ != "schedule.fired"
                && !rules::cooled(r.last_fired_at, r.cooldown_secs, e.at);
            // an event fires only its own tenant's rules (events carry no foreign keys)
            if r.tenant_id != e.tenant_id || !rules::fires(r, e, subject.as_ref()) || held {
                continue;
            }
            let at = now();
            let open = open.entry(app).or_insert(0);
            let mut run = Run {
                id: RunId::new(),
                tenant_id: r.tenant_id,
                application_id: app,
                rule_id: r.id,
                event_id: e.id,
                event_type: e.type_.clone(),
                appliance_id: e.appliance_id,
                status: RunStatus::Pending,
                step: 0,
                chain: r.steps.clone(),
                steps: r.steps.iter().map(|_| StepRun::pending()).collect(),
                next_at: at,
                created_at: at,
                updated_at: at,
                finished_at: None,
            };
            let full = *open >= MAX_OPEN_RUNS;
            if full {
                refuse(&mut run, at);
            }
            if unscoped::automation::insert_run(c, &run)? {
                if !full {
                    *open += 1;
                }
                r.last_fired_at = Some(e.at);
                unscoped::automation::set_fired(c, r.id, e.at)?;
            }
        }
    }
    unscoped::automation::mark_dispatched(c, &batch.iter().map(|e| e.id).collect::<Vec<_>>())?;
    Ok(batch.len())
}

/// A run the application has no room for: stored ended, its steps not run, saying why.
fn refuse(run: &mut Run, at: DateTime<Utc>) {
    run.status = RunStatus::Failed;
    run.finished_at = Some(at);
    for (i, step) in run.steps.iter_mut().enumerate() {
        step.status = StepStatus::Skipped;
        if i == 0 {
            step.output = format!(
                "not run: the application has {MAX_OPEN_RUNS} runs open, the most it may have"
            );
        }
    }
}

/// The next time a cron expression fires after `after` (none if it never does).
pub fn next_fire(expr: &str, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    parse_cron(expr)?.find_next_occurrence(&after, false).ok()
}

fn parse_cron(expr: &str) -> Option<croner::Cron> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(expr)
        .ok()
}

/// The shortest time a schedule may leave between two firings: each firing makes a run, and a
/// schedule is for periodic work (a cron with seconds could otherwise fire every second).
pub const SCHEDULE_MIN_INTERVAL_SECS: i64 = 60;

/// Whether `expr` fires more than once in some minute (its seconds field matches two or more
/// values): then two of its first three firings after `from` fall in one minute. `false` for an
/// expression that never fires twice.
pub fn fires_within_a_minute(expr: &str, from: DateTime<Utc>) -> bool {
    let Some(cron) = parse_cron(expr) else {
        return false;
    };
    let mut fires = Vec::with_capacity(3);
    let mut at = from;
    while fires.len() < 3 {
        match cron.find_next_occurrence(&at, false) {
            Ok(next) => {
                fires.push(next);
                at = next;
            }
            Err(_) => break,
        }
    }
    fires
        .windows(2)
        .any(|w| w[1] - w[0] < chrono::Duration::seconds(SCHEDULE_MIN_INTERVAL_SECS))
}

/// The UTC minute `at` falls in.
fn minute(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

/// Record `schedule.fired` for each schedule rule whose next time (after it last fired, or was
/// made) has come. Returns how many fired.
pub fn fire_schedules(c: &mut DbConn, at: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut fired = 0;
    for r in unscoped::automation::rules_of_type(c, "schedule.fired")? {
        let Some(expr) = &r.schedule else { continue };
        let since = r.last_fired_at.unwrap_or(r.created_at);
        let Some(next) = next_fire(expr, since) else {
            continue;
        };
        // a schedule saved before the interval was enforced still fires at most once per UTC
        // minute (counted in minutes, so firings recorded a little late do not drift)
        let too_soon = r
            .last_fired_at
            .is_some_and(|last| minute(at) <= minute(last));
        if next > at || too_soon {
            continue;
        }
        let detail = serde_json::json!({"rule_id": r.id, "scheduled_for": next}).to_string();
        let subject = events::Subject {
            application: Some(r.application_id),
            ..Default::default()
        };
        events::record(c, r.tenant_id, "schedule.fired", &subject, &detail)?;
        // the firing moves the schedule on even if the event is held back by a cooldown
        unscoped::automation::set_fired(c, r.id, at)?;
        fired += 1;
    }
    Ok(fired)
}

/// End jobs that outlived their timeout, or whose appliance is no longer live.
pub fn sweep_jobs(c: &mut DbConn, at: DateTime<Utc>) -> Result<usize, StoreError> {
    let open = unscoped::automation::open_jobs(c, 1000)?;
    let ids: Vec<_> = open
        .iter()
        .map(|j| j.appliance_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let appliances: HashMap<_, _> = unscoped::appliances::get_many(c, &ids)?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let mut ended = 0;
    for j in open {
        let gone = appliances
            .get(&j.appliance_id)
            .is_none_or(|a| !live(a.state));
        let late = j.started_at.is_some_and(|s| {
            at > s + chrono::Duration::seconds(i64::from(j.timeout_secs) + JOB_GRACE_SECS)
        });
        if gone {
            super::jobs::abandon(c, &j, JobStatus::Cancelled, "the appliance is no longer up")?;
            ended += 1;
        } else if late {
            let why = format!("no result within the {} s timeout", j.timeout_secs);
            super::jobs::abandon(c, &j, JobStatus::TimedOut, &why)?;
            ended += 1;
        }
    }
    Ok(ended)
}

/// Move one run on by one step start or end, in one transaction; returns the HTTP call to make.
fn advance(
    c: &mut DbConn,
    id: RunId,
    at: DateTime<Utc>,
    world: &mut Option<World>,
    round: &mut Round,
) -> Result<Option<(Run, Outside)>, StoreError> {
    let Some(mut run) = unscoped::automation::get_run(c, id)? else {
        return Ok(None);
    };
    if matches!(run.status, RunStatus::Succeeded | RunStatus::Failed) || run.next_at > at {
        return Ok(None);
    }
    let i = run.step as usize;
    let Some(sr) = run.steps.get(i).cloned() else {
        chain::skip(&mut run, "", at);
        unscoped::automation::save_run(c, &run)?;
        return Ok(None);
    };
    let event = match round.events.remove(&run.event_id) {
        Some(e) if e.tenant_id == run.tenant_id => Some(e),
        _ => events_get(c, &run)?,
    };
    let outside = match (sr.status, run.chain.get(i).map(|s| &s.action)) {
        (StepStatus::Running, Some(common::api::Action::RunScript { .. })) => {
            if !chain::check_jobs(c, &mut run, at)? {
                // its jobs are still running: look again at the step's deadline (or when a job
                // ends, which wakes the run), not every round
                let started = run.steps.get(i).and_then(|s| s.started_at).unwrap_or(at);
                let timeout = run.chain.get(i).map_or(300, |s| s.timeout_secs);
                run.next_at = started + chrono::Duration::seconds(i64::from(timeout));
            }
            Outside::Nothing
        }
        // a webhook found running was cut off by a restart: it is sent again (same delivery id)
        (StepStatus::Running, Some(common::api::Action::Webhook { .. }))
        | (StepStatus::Pending, _) => {
            if sr.status == StepStatus::Running
                && let Some(s) = run.steps.get_mut(i)
            {
                s.status = StepStatus::Pending;
                s.attempts = s.attempts.saturating_sub(1);
            }
            chain::start(c, &mut run, event.as_ref(), world, &mut round.lookups, at)?
        }
        _ => {
            chain::conclude(&mut run, false, "the step was interrupted".into(), at);
            Outside::Nothing
        }
    };
    run.updated_at = at;
    unscoped::automation::save_run(c, &run)?;
    Ok(Some((run, outside)))
}

/// Runs of one application one after another: from `first`, while each ends in this call and the
/// next is due (at most [`RUNS_PER_APP`]), each in a savepoint of its own (a failure is logged and
/// leaves the others' progress), the application loaded once for them.
fn advance_app(
    c: &mut DbConn,
    first: RunId,
    at: DateTime<Utc>,
    round: &mut Round,
    out: &mut Vec<(Run, Outside)>,
) {
    let mut world = None;
    let mut id = first;
    for _ in 0..RUNS_PER_APP {
        let moved = match store::savepoint(c, |c| advance(c, id, at, &mut world, round)) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(run = %id, error = %store::Chain(&e), "a run could not move on");
                // held back a while, so a run that fails every time neither spins nor blocks its
                // application's queue for good: after a few tries its step fails
                if let Err(e2) = store::savepoint(c, |c| hold_back(c, id, &e.to_string(), at)) {
                    tracing::warn!(run = %id, error = %store::Chain(&e2), "holding a run back");
                }
                return;
            }
        };
        let Some((run, outside)) = moved else { return };
        let ended = matches!(run.status, RunStatus::Succeeded | RunStatus::Failed);
        let app = run.application_id;
        out.push((run, outside));
        if !ended {
            return;
        }
        match unscoped::automation::next_open_run(c, app, id, at) {
            Ok(Some(next)) => id = next,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %store::Chain(&e), "looking for an application's next run");
                return;
            }
        }
    }
}

/// What the runs of one transaction of a round share: the events of its due runs, read in one query
/// (a run that follows one that ended reads its own), and the scripts and versions read so far.
#[derive(Default)]
struct Round {
    events: HashMap<EventId, Event>,
    lookups: chain::Lookups,
}

/// A run whose move failed (a database error, not a step's failure): its step counts an attempt and
/// the run waits before the next; past the step's retries the step fails like any other.
fn hold_back(c: &mut DbConn, id: RunId, why: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    let Some(mut run) = unscoped::automation::get_run(c, id)? else {
        return Ok(());
    };
    let i = run.step as usize;
    if let Some(s) = run.steps.get_mut(i) {
        s.attempts += 1;
        s.status = StepStatus::Running;
    }
    chain::conclude(
        &mut run,
        false,
        format!("the step could not be run: {why}"),
        at,
    );
    run.updated_at = at;
    unscoped::automation::save_run(c, &run)
}

fn events_get(c: &mut DbConn, run: &Run) -> Result<Option<Event>, StoreError> {
    events::get(c, run.tenant_id, run.event_id)
}

/// The engine's side effects outside the database.
#[derive(Debug)]
pub struct Engine {
    pub store: Store,
    /// Webhooks may reach internal addresses.
    allow_internal: bool,
    /// The windows and holds of `metric.threshold` rules, per (rule, appliance): in memory, filled
    /// from the appliances' reports as they come (after a restart they fill again).
    watch: std::sync::Mutex<MetricWatch>,
    /// How long ended runs, their jobs and dispatched events are kept (`None`: forever).
    retention: Option<chrono::Duration>,
    /// When history was last pruned.
    pruned: std::sync::Mutex<Option<DateTime<Utc>>>,
}

/// How often history older than the retention is pruned.
const PRUNE_EVERY_SECS: i64 = 600;
/// Rows of each kind deleted per round while pruning.
const PRUNE_BATCH: i64 = 2000;

/// The metric conditions' state.
#[derive(Debug, Default)]
struct MetricWatch {
    windows: HashMap<(common::RuleId, common::ApplianceId), (Window, Hold)>,
    last: Option<DateTime<Utc>>,
}

/// How often metric conditions are evaluated.
const METRICS_EVERY_MS: i64 = 1000;

impl Engine {
    pub fn new(store: Store, allow_internal: bool) -> Engine {
        Engine {
            store,
            allow_internal,
            watch: std::sync::Mutex::new(MetricWatch::default()),
            retention: None,
            pruned: std::sync::Mutex::new(None),
        }
    }

    /// Keep ended runs, their jobs and dispatched events for `days` days (0: forever).
    pub fn keep_days(mut self, days: u32) -> Engine {
        self.retention = (days > 0).then(|| chrono::Duration::days(i64::from(days)));
        self
    }

    /// Delete history older than the retention: one batch (its own transaction) per round while
    /// there is more, then nothing for [`PRUNE_EVERY_SECS`]. Returns what was deleted.
    pub async fn prune(
        &self,
        at: DateTime<Utc>,
    ) -> Result<unscoped::automation::Pruned, StoreError> {
        let none = unscoped::automation::Pruned::default();
        let Some(before) = self.retention.and_then(|keep| at.checked_sub_signed(keep)) else {
            return Ok(none);
        };
        let due = self
            .pruned
            .lock()
            .map(|l| l.is_none_or(|l| at - l >= chrono::Duration::seconds(PRUNE_EVERY_SECS)))
            .unwrap_or(true);
        if !due {
            return Ok(none);
        }
        let p = self
            .store
            .write(move |c| unscoped::automation::prune(c, before, PRUNE_BATCH))
            .await?;
        let full =
            i64::try_from(p.jobs.max(p.runs).max(p.events)).unwrap_or(i64::MAX) >= PRUNE_BATCH;
        if !full && let Ok(mut l) = self.pruned.lock() {
            *l = Some(at);
        }
        if p != none {
            tracing::info!(
                jobs = p.jobs,
                runs = p.runs,
                events = p.events,
                "pruned automation history"
            );
        }
        Ok(p)
    }

    /// One round: schedules, dispatch, runs, job sweep. Returns whether there was work (the loop
    /// goes again at once) .
    pub async fn round(&self) -> Result<bool, StoreError> {
        let at = now();
        let due_metrics = self
            .watch
            .lock()
            .map(|w| {
                w.last
                    .is_none_or(|l| at - l >= chrono::Duration::milliseconds(METRICS_EVERY_MS))
            })
            .unwrap_or(true);
        if due_metrics {
            self.evaluate_metrics(at).await?;
        }
        let (fired, dispatched) = self
            .store
            .write(move |c| -> Result<(usize, usize), StoreError> {
                let fired = fire_schedules(c, at)?;
                Ok((fired, dispatch(c)?))
            })
            .await?;
        let due = self
            .store
            .read(move |c| unscoped::automation::runnable(c, at, RUNS_PER_ROUND))
            .await?;
        // the due runs move on in a few concurrent transactions (each application's at most once a
        // round, so their order holds), each run in a savepoint of its own: one run's failure is
        // logged and leaves the others' progress
        // a tenant's runs go in one transaction: tenant row locks (scale steps) are never taken
        // by two of them in opposite orders
        let mut parts: Vec<Vec<(RunId, EventId)>> = vec![Vec::new(); WRITERS];
        let mut tenants: Vec<common::TenantId> = due.iter().map(|r| r.tenant_id).collect();
        tenants.sort();
        tenants.dedup();
        for r in &due {
            let slot = tenants.binary_search(&r.tenant_id).unwrap_or(0) % WRITERS;
            parts[slot].push((r.id, r.event_id));
        }
        let batches = parts.into_iter().filter(|p| !p.is_empty()).map(|part| {
            self.store
                .write(move |c| -> Result<Vec<(Run, Outside)>, StoreError> {
                    let mut out = Vec::with_capacity(part.len());
                    let ids: Vec<EventId> = part.iter().map(|(_, e)| *e).collect();
                    let mut round = Round {
                        events: unscoped::automation::events_by_id(c, &ids)?
                            .into_iter()
                            .map(|e| (e.id, e))
                            .collect(),
                        lookups: chain::Lookups::default(),
                    };
                    for (id, _) in part {
                        advance_app(c, id, at, &mut round, &mut out);
                    }
                    Ok(out)
                })
        });
        let mut moved = Vec::new();
        for batch in futures_util::future::join_all(batches).await {
            // a failed batch is logged: the others' webhooks still go out
            match batch {
                Ok(b) => moved.extend(b),
                Err(e) => tracing::warn!(error = %store::Chain(&e), "a batch of runs failed"),
            }
        }
        let moved_n = moved.len();
        // webhooks go out side by side (each has its own deadline)
        let calls = moved
            .into_iter()
            .map(|(run, outside)| self.outside(run, outside));
        for done in futures_util::future::join_all(calls).await {
            if let Err(e) = done {
                tracing::warn!(error = %store::Chain(&e), "recording a webhook's end");
            }
        }
        let swept = self.store.write(move |c| sweep_jobs(c, at)).await?;
        self.prune(at).await?;
        Ok(fired + dispatched + moved_n + swept > 0)
    }

    /// Evaluate every `metric.threshold` rule on the live appliances its filter takes, with their
    /// latest reports; a condition that fires records `metric.threshold` about the appliance (the
    /// dispatch then runs the rule). Returns how many fired.
    async fn evaluate_metrics(&self, at: DateTime<Utc>) -> Result<usize, StoreError> {
        type Seen = Vec<(
            Rule,
            Vec<(common::ApplianceId, Option<(DateTime<Utc>, f64)>)>,
        )>;
        let seen: Seen = self
            .store
            .read(move |c| -> Result<Seen, StoreError> {
                let rules = unscoped::automation::rules_of_type(c, "metric.threshold")?;
                let mut worlds: HashMap<ApplicationId, Option<World>> = HashMap::new();
                let mut out = Vec::new();
                for r in rules {
                    let Some(cond) = r.condition.clone() else {
                        continue;
                    };
                    if let std::collections::hash_map::Entry::Vacant(v) =
                        worlds.entry(r.application_id)
                    {
                        v.insert(World::load(c, r.tenant_id, r.application_id, None)?);
                    }
                    let Some(Some(world)) = worlds.get(&r.application_id) else {
                        continue;
                    };
                    let targets: Vec<&store::Appliance> = world
                        .appliances
                        .iter()
                        .filter(|a| live(a.state))
                        .filter(|a| {
                            let s = Subject {
                                layer: world.layer_of(a),
                                group: world.group_of(a),
                                role: world.role_of(a),
                            };
                            rules::admits(&r.filter, Some(&s))
                        })
                        .collect();
                    let ids: Vec<common::ApplianceId> = targets.iter().map(|a| a.id).collect();
                    let reports: HashMap<_, _> = unscoped::automation::latest_reports(c, &ids)?
                        .into_iter()
                        .map(|(id, t, rep)| (id, (t, rep)))
                        .collect();
                    let values = ids
                        .into_iter()
                        .map(|id| {
                            let v = reports.get(&id).and_then(|(t, rep)| {
                                super::metrics::value_of(rep, &cond.metric).map(|v| (*t, v))
                            });
                            (id, v)
                        })
                        .collect();
                    out.push((r, values));
                }
                Ok(out)
            })
            .await?;
        let mut fires = Vec::new();
        if let Ok(mut watch) = self.watch.lock() {
            watch.last = Some(at);
            let mut keep = std::collections::HashSet::new();
            for (rule, values) in &seen {
                let Some(cond) = &rule.condition else {
                    continue;
                };
                for (appliance, sample) in values {
                    keep.insert((rule.id, *appliance));
                    let (window, hold) = watch.windows.entry((rule.id, *appliance)).or_default();
                    if let Some((t, v)) = sample {
                        window.push(*t, *v);
                    }
                    window.prune(at, cond.window_secs);
                    if let Some(value) = super::metrics::evaluate(hold, window, cond, at) {
                        fires.push((rule.clone(), *appliance, value));
                    }
                }
            }
            watch.windows.retain(|k, _| keep.contains(k));
        }
        let n = fires.len();
        let fired_keys: Vec<(common::RuleId, common::ApplianceId)> =
            fires.iter().map(|(r, a, _)| (r.id, *a)).collect();
        if n > 0 {
            let written = self
                .store
                .write(move |c| -> Result<(), StoreError> {
                    for (rule, appliance, value) in &fires {
                        let Some(cond) = &rule.condition else { continue };
                        let detail = serde_json::json!({
                            "rule_id": rule.id, "appliance_id": appliance, "metric": cond.metric,
                            "aggregate": cond.aggregate, "value": value, "threshold": cond.threshold,
                        })
                        .to_string();
                        let subject = events::Subject {
                            application: Some(rule.application_id),
                            appliance: Some(*appliance),
                            host: None,
                        };
                        events::record(c, rule.tenant_id, "metric.threshold", &subject, &detail)?;
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = written {
                // not recorded: these crossings fire again at the next evaluation
                if let Ok(mut watch) = self.watch.lock() {
                    for k in &fired_keys {
                        if let Some((_, hold)) = watch.windows.get_mut(k) {
                            hold.fired = false;
                        }
                    }
                }
                return Err(e);
            }
        }
        Ok(n)
    }

    async fn outside(&self, run: Run, outside: Outside) -> Result<(), StoreError> {
        let Outside::Webhook { url, secret, body } = outside else {
            return Ok(());
        };
        let result = super::webhook::send(
            self.allow_internal,
            &url,
            secret.as_deref(),
            &body,
            &format!("{}-{}", run.id, run.step),
        )
        .await;
        let (ok, output) = match result {
            Ok(status) => (true, format!("delivered: HTTP {status}")),
            Err(why) => (false, why),
        };
        let (id, step) = (run.id, run.step);
        self.store
            .write(move |c| -> Result<(), StoreError> {
                let Some(mut run) = unscoped::automation::get_run(c, id)? else {
                    return Ok(());
                };
                if run.step != step
                    || run.steps.get(step as usize).map(|s| s.status) != Some(StepStatus::Running)
                {
                    return Ok(());
                }
                let at = now();
                chain::conclude(&mut run, ok, output, at);
                run.updated_at = at;
                unscoped::automation::save_run(c, &run)
            })
            .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cron_schedules_fire_at_their_times() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let table = [
            (
                "0 */5 * * * *",
                "2026-01-01T00:01:00Z",
                Some("2026-01-01T00:05:00Z"),
            ),
            (
                "30 0 12 * * *",
                "2026-01-01T12:00:30Z",
                Some("2026-01-02T12:00:30Z"),
            ),
            // February 30th never comes
            ("0 0 0 30 2 *", "2026-01-01T00:00:00Z", None),
            ("not cron", "2026-01-01T00:00:00Z", None),
        ];
        for (expr, after, want) in table {
            assert_eq!(next_fire(expr, t(after)), want.map(t), "{expr}");
        }
    }

    #[test]
    fn a_schedule_firing_twice_in_a_minute_is_found_from_any_time() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let table = [
            ("0 */5 * * * *", false),
            ("0 * * * * *", false),
            ("* * * * * *", true),
            ("0-5 * * * * *", true),
            // twice, ten seconds apart, once a day
            ("0,10 0 12 * * *", true),
            // every second, but only on the 1st of the month
            ("* * * 1 * *", true),
            ("0 0 12 * * *", false),
            ("0 0 0 30 2 *", false),
            ("not cron", false),
        ];
        for from in [
            "2026-01-01T00:00:30Z",
            "2026-01-05T12:00:05Z",
            "2026-01-28T23:59:59Z",
        ] {
            for (expr, want) in table {
                assert_eq!(
                    fires_within_a_minute(expr, t(from)),
                    want,
                    "{expr} from {from}"
                );
            }
        }
        assert_eq!(
            minute(t("2026-01-01T00:00:59Z")),
            minute(t("2026-01-01T00:00:00Z"))
        );
        assert_ne!(
            minute(t("2026-01-01T00:01:00Z")),
            minute(t("2026-01-01T00:00:59Z"))
        );
    }
}
