//! The automation engine's own reads and writes: events to dispatch (their ids come from the events
//! table), the rules of those events' applications, runs due, and the jobs an agent's verified token
//! names.

use crate::models_apps::{Event, EventRow};
use crate::models_automation::{Job, JobRow, Rule, RuleRow, Run, RunRow, name_of};
use crate::repo::convert;
use crate::schema::{action_runs as ar, event_rules as r, events as ev, script_jobs as j};
use crate::time::to_db;
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use common::api::{JobStatus, RunStatus};
use common::{ApplianceId, ApplicationId, EventId, JobId, RuleId, RunId};
use diesel::prelude::*;

/// Up to `limit` events not yet dispatched to rules, oldest first.
pub fn undispatched(conn: &mut DbConn, limit: i64) -> Result<Vec<Event>, StoreError> {
    convert(
        ev::table
            .filter(ev::dispatched.eq(false))
            .order(ev::id.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .load(conn)?,
    )
}

/// The events of these ids (the engine reads a round's in one query; they are its own, unscoped).
pub fn events_by_id(conn: &mut DbConn, ids: &[EventId]) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
        out.extend(convert::<_, Event>(
            ev::table
                .filter(ev::id.eq_any(chunk))
                .select(EventRow::as_select())
                .load(conn)?,
        )?);
    }
    Ok(out)
}

pub fn mark_dispatched(conn: &mut DbConn, ids: &[EventId]) -> Result<(), StoreError> {
    for chunk in ids.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
        diesel::update(ev::table.filter(ev::id.eq_any(chunk)))
            .set(ev::dispatched.eq(true))
            .execute(conn)?;
    }
    Ok(())
}

/// The enabled rules of these applications.
pub fn rules_of(conn: &mut DbConn, apps: &[ApplicationId]) -> Result<Vec<Rule>, StoreError> {
    let mut out = Vec::new();
    for chunk in apps.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
        out.extend(convert::<_, Rule>(
            r::table
                .filter(r::application_id.eq_any(chunk))
                .filter(r::enabled.eq(true))
                .select(RuleRow::as_select())
                .load(conn)?,
        )?);
    }
    Ok(out)
}

/// Every enabled rule of one event type (schedules, metric conditions).
pub fn rules_of_type(conn: &mut DbConn, event_type: &str) -> Result<Vec<Rule>, StoreError> {
    convert(
        r::table
            .filter(r::event_type.eq(event_type))
            .filter(r::enabled.eq(true))
            .select(RuleRow::as_select())
            .load(conn)?,
    )
}

pub fn set_fired(conn: &mut DbConn, rule: RuleId, at: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(r::table.find(rule.to_string()))
        .set(r::last_fired_at.eq(to_db(at)))
        .execute(conn)?;
    Ok(())
}

/// Insert a run unless one exists for its (event, rule): returns whether it was inserted.
pub fn insert_run(conn: &mut DbConn, run: &Run) -> Result<bool, StoreError> {
    let row = RunRow::from(run);
    let q = diesel::insert_into(ar::table)
        .values(&row)
        .on_conflict((ar::event_id, ar::rule_id))
        .do_nothing();
    let n = match conn {
        DbConn::Pg(c) => q.execute(c)?,
        DbConn::Sqlite(c) => q.execute(c)?,
    };
    Ok(n > 0)
}

/// What one [`prune`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: usize,
    pub runs: usize,
    pub events: usize,
}

/// Delete up to `limit` each of: jobs (other than install jobs) that ended before `before` and whose
/// run (if any) is not open;
/// runs that ended before `before`; events from before `before` that were dispatched and that no open
/// run refers to. Appliance transitions (what billing reads) are not touched.
pub fn prune(conn: &mut DbConn, before: DateTime<Utc>, limit: i64) -> Result<Pruned, StoreError> {
    let b = to_db(before);
    let open = [name_of(RunStatus::Pending), name_of(RunStatus::Running)];
    let open_runs = ar::table
        .filter(ar::status.eq_any(open))
        .select(ar::id.nullable());
    // install jobs stay: they are an appliance's install progress (it configures again after a
    // reboot, going on from the scripts done)
    let jobs: Vec<String> = j::table
        .filter(j::finished_at.lt(b))
        .filter(j::purpose.ne(name_of(common::api::JobPurpose::Install)))
        .filter(
            j::run_id
                .is_null()
                .or(diesel::dsl::not(j::run_id.eq_any(open_runs))),
        )
        .select(j::id)
        .limit(limit)
        .load(conn)?;
    let runs: Vec<String> = ar::table
        .filter(ar::finished_at.lt(b))
        .select(ar::id)
        .limit(limit)
        .load(conn)?;
    let open = [name_of(RunStatus::Pending), name_of(RunStatus::Running)];
    let held = ar::table
        .filter(ar::status.eq_any(open))
        .select(ar::event_id);
    let events: Vec<String> = ev::table
        .filter(ev::at.lt(b))
        .filter(ev::dispatched.eq(true))
        .filter(diesel::dsl::not(ev::id.eq_any(held)))
        .select(ev::id)
        .limit(limit)
        .load(conn)?;
    for chunk in jobs.chunks(500) {
        diesel::delete(j::table.filter(j::id.eq_any(chunk))).execute(conn)?;
    }
    for chunk in runs.chunks(500) {
        diesel::delete(ar::table.filter(ar::id.eq_any(chunk))).execute(conn)?;
    }
    for chunk in events.chunks(500) {
        diesel::delete(ev::table.filter(ev::id.eq_any(chunk))).execute(conn)?;
    }
    Ok(Pruned {
        jobs: jobs.len(),
        runs: runs.len(),
        events: events.len(),
    })
}

/// The open (pending or running) runs of each of these applications, in one query (those without
/// any are absent).
pub fn open_runs_of(
    conn: &mut DbConn,
    apps: &[ApplicationId],
) -> Result<std::collections::HashMap<ApplicationId, i64>, StoreError> {
    let open = [name_of(RunStatus::Pending), name_of(RunStatus::Running)];
    let mut out = std::collections::HashMap::new();
    for chunk in apps.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
        let counts: Vec<(String, i64)> = ar::table
            .filter(ar::status.eq_any(&open))
            .filter(ar::application_id.eq_any(chunk))
            .group_by(ar::application_id)
            .select((ar::application_id, diesel::dsl::count_star()))
            .load(conn)?;
        for (app, n) in counts {
            if let Ok(id) = app.parse() {
                out.insert(id, n);
            }
        }
    }
    Ok(out)
}

/// The runs that may go on now: of each application only its oldest unfinished run (runs of one
/// application go in event order), and of those the ones due by `at`, soonest first. Every
/// application with open runs is considered, however many open runs another one has.
pub fn runnable(conn: &mut DbConn, at: DateTime<Utc>, limit: i64) -> Result<Vec<Run>, StoreError> {
    use diesel::dsl::min;
    let open = [name_of(RunStatus::Pending), name_of(RunStatus::Running)];
    let heads: Vec<Option<String>> = ar::table
        .filter(ar::status.eq_any(&open))
        .group_by(ar::application_id)
        .select(min(ar::id))
        .load(conn)?;
    let heads: Vec<String> = heads.into_iter().flatten().collect();
    let mut due: Vec<Run> = Vec::new();
    for chunk in heads.chunks(500) {
        due.extend(convert::<_, Run>(
            ar::table
                .filter(ar::id.eq_any(chunk))
                .filter(ar::next_at.le(to_db(at)))
                .select(RunRow::as_select())
                .load(conn)?,
        )?);
    }
    due.sort_by_key(|r| r.next_at);
    due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(due)
}

/// The application's next open run after `after`, if it is the oldest open one and due by `at`.
pub fn next_open_run(
    conn: &mut DbConn,
    app: ApplicationId,
    after: RunId,
    at: DateTime<Utc>,
) -> Result<Option<RunId>, StoreError> {
    let open = [name_of(RunStatus::Pending), name_of(RunStatus::Running)];
    let next: Option<(String, crate::time::Ts)> = ar::table
        .filter(ar::application_id.eq(app.to_string()))
        .filter(ar::status.eq_any(open))
        .order(ar::id.asc())
        .select((ar::id, ar::next_at))
        .first(conn)
        .optional()?;
    Ok(match next {
        Some((id, due)) if id > after.to_string() && due <= to_db(at) => {
            Some(crate::models::parse("run id", &id)?)
        }
        _ => None,
    })
}

pub fn get_run(conn: &mut DbConn, id: RunId) -> Result<Option<Run>, StoreError> {
    super::super::locks::lock(conn, super::super::locks::Table::Runs, &id.to_string())?;
    ar::table
        .find(id.to_string())
        .select(RunRow::as_select())
        .first(conn)
        .optional()?
        .map(Run::try_from)
        .transpose()
}

/// Write a run back (read under its lock with [`get_run`]).
pub fn save_run(conn: &mut DbConn, run: &Run) -> Result<(), StoreError> {
    let row = RunRow::from(run);
    diesel::update(ar::table.find(&row.id))
        .set((
            ar::status.eq(&row.status),
            ar::step.eq(row.step),
            ar::steps.eq(&row.steps),
            ar::next_at.eq(row.next_at),
            ar::updated_at.eq(row.updated_at),
            ar::finished_at.eq(row.finished_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn insert_jobs(conn: &mut DbConn, jobs: &[Job]) -> Result<(), StoreError> {
    for job in jobs {
        diesel::insert_into(j::table)
            .values(JobRow::from(job))
            .execute(conn)?;
    }
    Ok(())
}

pub fn jobs(conn: &mut DbConn, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|x| x.to_string()).collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(convert::<_, Job>(
            j::table
                .filter(j::id.eq_any(chunk))
                .select(JobRow::as_select())
                .load(conn)?,
        )?);
    }
    Ok(out)
}

/// An appliance's install jobs, oldest first.
pub fn install_jobs(conn: &mut DbConn, appliance: ApplianceId) -> Result<Vec<Job>, StoreError> {
    convert(
        j::table
            .filter(j::appliance_id.eq(appliance.to_string()))
            .filter(j::purpose.eq("install"))
            .order(j::id.asc())
            .select(JobRow::as_select())
            .load(conn)?,
    )
}

/// Hand an appliance's agent its job: the one running (again: an agent that restarted, or whose
/// answer was lost, gets it again and runs a job id once), else the oldest queued, which becomes
/// running now. One at a time, as agents run them: a job's `started_at` is when it starts, so its
/// timeout counts from there.
pub fn take_jobs(
    conn: &mut DbConn,
    appliance: ApplianceId,
    at: DateTime<Utc>,
) -> Result<Vec<Job>, StoreError> {
    let open = [name_of(JobStatus::Queued), name_of(JobStatus::Running)];
    let jobs: Vec<Job> = convert(
        j::table
            .filter(j::appliance_id.eq(appliance.to_string()))
            .filter(j::status.eq_any(open))
            .order(j::id.asc())
            .select(JobRow::as_select())
            .load(conn)?,
    )?;
    if let Some(running) = jobs.iter().find(|x| x.status == JobStatus::Running) {
        return Ok(vec![running.clone()]);
    }
    let Some(mut next) = jobs.into_iter().next() else {
        return Ok(Vec::new());
    };
    // only if it is still queued: a job cancelled meanwhile stays cancelled
    let n = diesel::update(
        j::table
            .find(next.id.to_string())
            .filter(j::status.eq(name_of(JobStatus::Queued))),
    )
    .set((
        j::status.eq(name_of(JobStatus::Running)),
        j::started_at.eq(to_db(at)),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    next.status = JobStatus::Running;
    next.started_at = Some(at);
    Ok(vec![next])
}

/// The job `id` of `appliance` (a verified agent token names it).
pub fn job_of(
    conn: &mut DbConn,
    appliance: ApplianceId,
    id: JobId,
) -> Result<Option<Job>, StoreError> {
    j::table
        .find(id.to_string())
        .filter(j::appliance_id.eq(appliance.to_string()))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?
        .map(Job::try_from)
        .transpose()
}

/// Record how a job ended if it has not yet (returns whether this call ended it). The clear-text
/// script, environment and secret list are dropped: only the masked text stays.
pub fn finish_job(
    conn: &mut DbConn,
    id: JobId,
    status: JobStatus,
    exit_code: Option<i32>,
    stdout: &str,
    stderr: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let open = [name_of(JobStatus::Queued), name_of(JobStatus::Running)];
    let n = diesel::update(j::table.find(id.to_string()).filter(j::status.eq_any(open)))
        .set((
            j::status.eq(name_of(status)),
            j::exit_code.eq(exit_code),
            j::stdout.eq(stdout),
            j::stderr.eq(stderr),
            j::finished_at.eq(to_db(at)),
            j::body.eq(""),
            j::env.eq("{}"),
            j::secrets.eq("[]"),
        ))
        .execute(conn)?;
    Ok(n > 0)
}

/// Jobs the engine may have to end: running ones (oldest start first) and queued ones (oldest
/// first), at most `limit` of each, so queued jobs never crowd out the running ones' timeouts.
pub fn open_jobs(conn: &mut DbConn, limit: i64) -> Result<Vec<Job>, StoreError> {
    let mut out: Vec<Job> = convert(
        j::table
            .filter(j::status.eq(name_of(JobStatus::Running)))
            .order(j::started_at.asc())
            .limit(limit)
            .select(JobRow::as_select())
            .load(conn)?,
    )?;
    out.extend(convert::<_, Job>(
        j::table
            .filter(j::status.eq(name_of(JobStatus::Queued)))
            .order(j::id.asc())
            .limit(limit)
            .select(JobRow::as_select())
            .load(conn)?,
    )?);
    Ok(out)
}

/// Make a run due now (one of its jobs ended).
pub fn wake_run(conn: &mut DbConn, id: RunId, at: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(ar::table.find(id.to_string()))
        .set(ar::next_at.eq(to_db(at)))
        .execute(conn)?;
    Ok(())
}

/// The latest metrics report of each of these appliances (with its time), for metric conditions.
pub fn latest_reports(
    conn: &mut DbConn,
    ids: &[ApplianceId],
) -> Result<Vec<(ApplianceId, DateTime<Utc>, common::agent::MetricsReport)>, StoreError> {
    use crate::schema::appliance_metrics as m;
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
        let rows: Vec<(String, crate::time::Ts, String)> = m::table
            .filter(m::appliance_id.eq_any(chunk))
            .select((m::appliance_id, m::at, m::report))
            .load(conn)?;
        for (id, at, report) in rows {
            let report = serde_json::from_str(&report).map_err(|source| StoreError::Json {
                what: "stored metrics report",
                source,
            })?;
            out.push((
                crate::models::parse("appliance id", &id)?,
                crate::time::from_db(at),
                report,
            ));
        }
    }
    Ok(out)
}
