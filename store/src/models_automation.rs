//! Automation rows: CloudScripts and their versions, event rules, action runs, script jobs.

use crate::StoreError;
use crate::models::parse;
use crate::models_compute::{i32_of, json, json_of, u32_of};
use crate::schema::*;
use crate::time::{Ts, from_db, to_db};
use chrono::{DateTime, Utc};
use common::api::{
    Condition, JobPurpose, JobStatus, RuleFilter, RuleOrigin, RunStatus, Step, StepRun,
    VariableDecl,
};
use common::{ApplianceId, ApplicationId, EventId, JobId, RuleId, RunId, ScriptId, TenantId};
use diesel::prelude::*;

/// A unit enum's serde name (`JobStatus::TimedOut` → `timed_out`).
pub(crate) fn name_of<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The unit enum named `s`.
pub(crate) fn of_name<T: serde::de::DeserializeOwned>(
    what: &str,
    s: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("{what} {s:?}")))
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Option<Ts> {
    t.map(to_db)
}

// ---------------------------------------------------------------- scripts

#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub id: ScriptId,
    /// `None`: the provider's library.
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub description: String,
    pub latest_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = cloudscripts)]
pub(crate) struct ScriptRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub scope: String,
    pub name: String,
    pub description: String,
    pub latest_version: i32,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl From<&Script> for ScriptRow {
    fn from(s: &Script) -> Self {
        ScriptRow {
            id: s.id.to_string(),
            tenant_id: s.tenant_id.map(|t| t.to_string()),
            scope: crate::models_compute::template_scope(s.tenant_id),
            name: s.name.clone(),
            description: s.description.clone(),
            latest_version: i32_of(s.latest_version),
            created_at: to_db(s.created_at),
            updated_at: to_db(s.updated_at),
        }
    }
}

impl TryFrom<ScriptRow> for Script {
    type Error = StoreError;
    fn try_from(r: ScriptRow) -> Result<Self, StoreError> {
        Ok(Script {
            id: parse("script id", &r.id)?,
            tenant_id: r
                .tenant_id
                .as_deref()
                .map(|t| parse("tenant id", t))
                .transpose()?,
            name: r.name,
            description: r.description,
            latest_version: u32_of("version", r.latest_version.into())?,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScriptVersion {
    pub script_id: ScriptId,
    pub version: u32,
    pub body: String,
    pub variables: Vec<VariableDecl>,
    pub timeout_secs: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = cloudscript_versions)]
pub(crate) struct ScriptVersionRow {
    pub script_id: String,
    pub version: i32,
    pub body: String,
    pub variables: String,
    pub timeout_secs: i32,
    pub created_at: Ts,
}

impl From<&ScriptVersion> for ScriptVersionRow {
    fn from(v: &ScriptVersion) -> Self {
        ScriptVersionRow {
            script_id: v.script_id.to_string(),
            version: i32_of(v.version),
            body: v.body.clone(),
            variables: json(&v.variables),
            timeout_secs: i32_of(v.timeout_secs),
            created_at: to_db(v.created_at),
        }
    }
}

impl TryFrom<ScriptVersionRow> for ScriptVersion {
    type Error = StoreError;
    fn try_from(r: ScriptVersionRow) -> Result<Self, StoreError> {
        Ok(ScriptVersion {
            script_id: parse("script id", &r.script_id)?,
            version: u32_of("version", r.version.into())?,
            body: r.body,
            variables: json_of("script variables", &r.variables)?,
            timeout_secs: u32_of("timeout", r.timeout_secs.into())?,
            created_at: from_db(r.created_at),
        })
    }
}

// ---------------------------------------------------------------- rules

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: RuleId,
    pub tenant_id: TenantId,
    pub application_id: ApplicationId,
    pub name: String,
    pub event_type: String,
    pub filter: RuleFilter,
    pub condition: Option<Condition>,
    pub cooldown_secs: u32,
    pub schedule: Option<String>,
    pub steps: Vec<Step>,
    pub enabled: bool,
    pub origin: RuleOrigin,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = event_rules, treat_none_as_null = true)]
pub(crate) struct RuleRow {
    pub id: String,
    pub tenant_id: String,
    pub application_id: String,
    pub name: String,
    pub event_type: String,
    pub filter: String,
    pub condition: Option<String>,
    pub cooldown_secs: i32,
    pub schedule: Option<String>,
    pub steps: String,
    pub enabled: bool,
    pub origin: String,
    pub last_fired_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl From<&Rule> for RuleRow {
    fn from(r: &Rule) -> Self {
        RuleRow {
            id: r.id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            application_id: r.application_id.to_string(),
            name: r.name.clone(),
            event_type: r.event_type.clone(),
            filter: json(&r.filter),
            condition: r.condition.as_ref().map(json),
            cooldown_secs: i32_of(r.cooldown_secs),
            schedule: r.schedule.clone(),
            steps: json(&r.steps),
            enabled: r.enabled,
            origin: name_of(r.origin),
            last_fired_at: opt_ts(r.last_fired_at),
            created_at: to_db(r.created_at),
            updated_at: to_db(r.updated_at),
        }
    }
}

impl TryFrom<RuleRow> for Rule {
    type Error = StoreError;
    fn try_from(r: RuleRow) -> Result<Self, StoreError> {
        Ok(Rule {
            id: parse("rule id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            application_id: parse("application id", &r.application_id)?,
            name: r.name,
            event_type: r.event_type,
            filter: json_of("rule filter", &r.filter)?,
            condition: r
                .condition
                .as_deref()
                .map(|c| json_of("rule condition", c))
                .transpose()?,
            cooldown_secs: u32_of("cooldown", r.cooldown_secs.into())?,
            schedule: r.schedule,
            steps: json_of("rule steps", &r.steps)?,
            enabled: r.enabled,
            origin: of_name("rule origin", &r.origin)?,
            last_fired_at: r.last_fired_at.map(from_db),
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

// ---------------------------------------------------------------- runs

#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub id: RunId,
    pub tenant_id: TenantId,
    pub application_id: ApplicationId,
    pub rule_id: RuleId,
    pub event_id: EventId,
    pub event_type: String,
    pub appliance_id: Option<ApplianceId>,
    pub status: RunStatus,
    pub step: u32,
    /// The rule's steps when the event came.
    pub chain: Vec<Step>,
    pub steps: Vec<StepRun>,
    pub next_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = action_runs)]
pub(crate) struct RunRow {
    pub id: String,
    pub tenant_id: String,
    pub application_id: String,
    pub rule_id: String,
    pub event_id: String,
    pub event_type: String,
    pub appliance_id: Option<String>,
    pub status: String,
    pub step: i32,
    pub chain: String,
    pub steps: String,
    pub next_at: Ts,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub finished_at: Option<Ts>,
}

impl From<&Run> for RunRow {
    fn from(r: &Run) -> Self {
        RunRow {
            id: r.id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            application_id: r.application_id.to_string(),
            rule_id: r.rule_id.to_string(),
            event_id: r.event_id.to_string(),
            event_type: r.event_type.clone(),
            appliance_id: r.appliance_id.map(|a| a.to_string()),
            status: name_of(r.status),
            step: i32_of(r.step),
            chain: json(&r.chain),
            steps: json(&r.steps),
            next_at: to_db(r.next_at),
            created_at: to_db(r.created_at),
            updated_at: to_db(r.updated_at),
            finished_at: opt_ts(r.finished_at),
        }
    }
}

impl TryFrom<RunRow> for Run {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        Ok(Run {
            id: parse("run id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            application_id: parse("application id", &r.application_id)?,
            rule_id: parse("rule id", &r.rule_id)?,
            event_id: parse("event id", &r.event_id)?,
            event_type: r.event_type,
            appliance_id: r
                .appliance_id
                .as_deref()
                .map(|a| parse("appliance id", a))
                .transpose()?,
            status: of_name("run status", &r.status)?,
            step: u32_of("step", r.step.into())?,
            chain: json_of("run chain", &r.chain)?,
            steps: json_of("run steps", &r.steps)?,
            next_at: from_db(r.next_at),
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
            finished_at: r.finished_at.map(from_db),
        })
    }
}

// ---------------------------------------------------------------- jobs

#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub application_id: ApplicationId,
    pub appliance_id: ApplianceId,
    pub run_id: Option<RunId>,
    pub step: Option<u32>,
    pub purpose: JobPurpose,
    pub script_id: ScriptId,
    pub script_name: String,
    pub version: u32,
    /// The rendered script with secrets in clear: for the agent only, emptied once the job ended.
    pub body: String,
    pub env: std::collections::BTreeMap<String, String>,
    /// The secret values to mask in what the job reports (emptied once it ended).
    pub secrets: Vec<String>,
    /// The rendered script with secrets masked.
    pub shown: String,
    pub timeout_secs: u32,
    pub status: JobStatus,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = script_jobs)]
pub(crate) struct JobRow {
    pub id: String,
    pub tenant_id: String,
    pub application_id: String,
    pub appliance_id: String,
    pub run_id: Option<String>,
    pub step: Option<i32>,
    pub purpose: String,
    pub script_id: String,
    pub script_name: String,
    pub version: i32,
    pub body: String,
    pub env: String,
    pub secrets: String,
    pub shown: String,
    pub timeout_secs: i32,
    pub status: String,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub created_at: Ts,
    pub started_at: Option<Ts>,
    pub finished_at: Option<Ts>,
}

impl From<&Job> for JobRow {
    fn from(j: &Job) -> Self {
        JobRow {
            id: j.id.to_string(),
            tenant_id: j.tenant_id.to_string(),
            application_id: j.application_id.to_string(),
            appliance_id: j.appliance_id.to_string(),
            run_id: j.run_id.map(|r| r.to_string()),
            step: j.step.map(i32_of),
            purpose: name_of(j.purpose),
            script_id: j.script_id.to_string(),
            script_name: j.script_name.clone(),
            version: i32_of(j.version),
            body: j.body.clone(),
            env: json(&j.env),
            secrets: json(&j.secrets),
            shown: j.shown.clone(),
            timeout_secs: i32_of(j.timeout_secs),
            status: name_of(j.status),
            exit_code: j.exit_code,
            stdout: j.stdout.clone(),
            stderr: j.stderr.clone(),
            created_at: to_db(j.created_at),
            started_at: opt_ts(j.started_at),
            finished_at: opt_ts(j.finished_at),
        }
    }
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(Job {
            id: parse("job id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            application_id: parse("application id", &r.application_id)?,
            appliance_id: parse("appliance id", &r.appliance_id)?,
            run_id: r
                .run_id
                .as_deref()
                .map(|x| parse("run id", x))
                .transpose()?,
            step: r.step.map(|s| u32_of("step", s.into())).transpose()?,
            purpose: of_name("job purpose", &r.purpose)?,
            script_id: parse("script id", &r.script_id)?,
            script_name: r.script_name,
            version: u32_of("version", r.version.into())?,
            body: r.body,
            env: json_of("job env", &r.env)?,
            secrets: json_of("job secrets", &r.secrets)?,
            shown: r.shown,
            timeout_secs: u32_of("timeout", r.timeout_secs.into())?,
            status: of_name("job status", &r.status)?,
            exit_code: r.exit_code,
            stdout: r.stdout,
            stderr: r.stderr,
            created_at: from_db(r.created_at),
            started_at: r.started_at.map(from_db),
            finished_at: r.finished_at.map(from_db),
        })
    }
}
