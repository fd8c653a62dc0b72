//! CloudScripts (versioned scripts with declared Script Variables), event rules with their chains of
//! actions, action runs and script jobs: the automation API's bodies.

use super::ApplianceRole;
use crate::{ApplianceId, ApplicationId, EventId, JobId, RuleId, RunId, ScriptId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use validator::{Validate, ValidationError};

/// The largest script body accepted (bytes).
pub const SCRIPT_MAX_BYTES: usize = 256 * 1024;
/// The most variables a script declares.
pub const SCRIPT_VARIABLES_MAX: usize = 64;
/// The most steps in a chain.
pub const CHAIN_STEPS_MAX: usize = 16;
/// What every API answer shows instead of a secret.
pub const MASK: &str = "********";

/// The system events rules can react to; scripts may also post `custom.<name>` events.
pub const EVENT_TYPES: [&str; 10] = [
    "appliance.came_alive",
    "appliance.configured",
    "appliance.config_failed",
    "appliance.went_down",
    "appliance.terminated",
    "metric.threshold",
    "host.lost",
    "scale.out",
    "scale.in",
    "schedule.fired",
];

fn invalid(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// A Script Variable's name: usable as `vars.<name>` and, upper-cased, as an environment variable.
pub fn variable_name(value: &str) -> Result<(), ValidationError> {
    let ok = (1..=64).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "invalid_variable_name",
            "must be 1 to 64 lowercase letters, digits or '_', starting with a letter",
        ))
    }
}

/// A rule's event type: one of [`EVENT_TYPES`] or `custom.<identifier>`.
pub fn event_type(value: &str) -> Result<(), ValidationError> {
    let custom = value
        .strip_prefix("custom.")
        .is_some_and(|n| variable_name(n).is_ok());
    if EVENT_TYPES.contains(&value) || custom {
        Ok(())
    } else {
        Err(invalid(
            "unknown_event_type",
            format!("must be one of {} or custom.<name>", EVENT_TYPES.join(", ")),
        ))
    }
}

/// A script body: not empty, at most [`SCRIPT_MAX_BYTES`], no NUL.
pub fn script_body(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() || value.len() > SCRIPT_MAX_BYTES || value.contains('\0') {
        return Err(invalid(
            "invalid_script",
            format!("must be 1 to {SCRIPT_MAX_BYTES} bytes of text"),
        ));
    }
    Ok(())
}

fn variables(decls: &[VariableDecl]) -> Result<(), ValidationError> {
    let mut seen = std::collections::BTreeSet::new();
    for d in decls {
        if !seen.insert(d.name.as_str()) {
            return Err(invalid(
                "duplicate_variable",
                format!("variable {} is declared twice", d.name),
            ));
        }
        if let Some(v) = &d.default
            && !d.type_.admits(v)
        {
            return Err(invalid(
                "invalid_default",
                format!("the default of {} is not a {}", d.name, d.type_.as_str()),
            ));
        }
    }
    Ok(())
}

/// What a variable holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VarType {
    String,
    Int,
    Bool,
    /// A list of strings.
    List,
}

impl VarType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Bool => "bool",
            Self::List => "list",
        }
    }

    /// Whether a JSON value is of this type.
    pub fn admits(self, v: &Value) -> bool {
        match self {
            Self::String => v.is_string(),
            Self::Int => v.is_i64(),
            Self::Bool => v.is_boolean(),
            Self::List => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        }
    }
}

/// A declared Script Variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[validate(custom(function = "variable_name"))]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
    pub name: String,
    #[serde(rename = "type")]
    pub type_: VarType,
    /// Used when the caller gives no value (a rule, a run); none for a required variable.
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub required: bool,
    /// Masked in every answer, log and stored output.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    #[validate(length(max = 500))]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: String,
}

fn default_timeout() -> u32 {
    300
}

/// A new CloudScript (its version 1).
#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateScriptRequest {
    #[validate(custom(function = "crate::validate::identifier"))]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[a-z][a-z0-9_.-]{0,63}$"))]
    pub name: String,
    #[serde(default)]
    #[validate(custom(function = "crate::validate::description"))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    /// The script, rendered with minijinja before it runs; its shebang chooses the interpreter.
    #[validate(custom(function = "script_body"))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 262144))]
    pub body: String,
    #[serde(default)]
    #[validate(length(max = 64), nested, custom(function = "variables"))]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub variables: Vec<VariableDecl>,
    #[serde(default = "default_timeout")]
    #[validate(range(min = 1, max = 3600))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub timeout_secs: u32,
}

impl CreateScriptRequest {
    /// Its version 1.
    pub fn version(&self) -> ScriptVersionRequest {
        ScriptVersionRequest {
            body: self.body.clone(),
            variables: self.variables.clone(),
            timeout_secs: self.timeout_secs,
        }
    }
}

/// A new version of a script: its text, variables and timeout (earlier versions stay as they were).
#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScriptVersionRequest {
    /// The script, rendered with minijinja before it runs; its shebang chooses the interpreter.
    #[validate(custom(function = "script_body"))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 262144))]
    pub body: String,
    #[serde(default)]
    #[validate(length(max = 64), nested, custom(function = "variables"))]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub variables: Vec<VariableDecl>,
    #[serde(default = "default_timeout")]
    #[validate(range(min = 1, max = 3600))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub timeout_secs: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScriptVersionResponse {
    pub version: u32,
    pub body: String,
    pub variables: Vec<VariableDecl>,
    pub timeout_secs: u32,
    /// From the shebang (`/bin/sh` when there is none).
    pub interpreter: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScriptResponse {
    pub id: ScriptId,
    /// Absent for the provider's library scripts.
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub description: String,
    pub latest_version: u32,
    /// The latest version.
    pub latest: ScriptVersionResponse,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Render a script against an appliance's context, without running it.
#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    pub appliance_id: ApplianceId,
    /// The latest version when absent.
    pub version: Option<u32>,
    #[serde(default)]
    pub variables: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderResponse {
    /// The rendered script, secrets masked.
    pub script: String,
    /// The environment it would get, secrets masked.
    pub env: BTreeMap<String, String>,
}

/// Run a script now on chosen appliances of one application.
#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunScriptRequest {
    #[validate(length(min = 1, max = 100))]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub appliance_ids: Vec<ApplianceId>,
    pub version: Option<u32>,
    #[serde(default)]
    pub variables: BTreeMap<String, Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobPurpose {
    /// A template's install script, while the appliance is configuring.
    Install,
    /// A `run_script` step of a rule's chain.
    Action,
    /// Run by hand.
    Manual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    /// Handed to the agent.
    Running,
    Succeeded,
    Failed,
    TimedOut,
    /// The appliance went away before the job ended.
    Cancelled,
}

impl JobStatus {
    pub fn finished(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobResponse {
    pub id: JobId,
    pub appliance_id: ApplianceId,
    pub application_id: ApplicationId,
    pub run_id: Option<RunId>,
    pub purpose: JobPurpose,
    pub script_id: ScriptId,
    pub script_name: String,
    pub version: u32,
    pub status: JobStatus,
    /// The rendered script, secrets masked.
    pub script: String,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timeout_secs: u32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Which appliances' events a rule takes (all that are given must match).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleFilter {
    /// The layer's name.
    #[validate(length(min = 1, max = 100))]
    pub layer: Option<String>,
    /// The group's name.
    #[validate(length(min = 1, max = 100))]
    pub group: Option<String>,
    /// The appliance template's role.
    pub role: Option<ApplianceRole>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Avg,
    Max,
    Min,
    P95,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Comparator {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparator {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Gt => value > threshold,
            Self::Ge => value >= threshold,
            Self::Lt => value < threshold,
            Self::Le => value <= threshold,
        }
    }
}

/// A `metric.threshold` rule's condition: `aggregate(metric over window) comparator threshold`,
/// holding for `for_secs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `cpu_pct`, `load1`, `mem_used_pct` or a custom metric's name.
    #[validate(custom(function = "crate::validate::identifier"))]
    pub metric: String,
    pub aggregate: Aggregate,
    /// At most an hour (the engine keeps each window's samples in memory).
    #[validate(range(min = 1, max = 3600))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub window_secs: u32,
    pub comparator: Comparator,
    pub threshold: f64,
    #[serde(default)]
    #[validate(range(max = 86400))]
    #[cfg_attr(feature = "openapi", schema(maximum = 86400))]
    pub for_secs: u32,
}

/// Where a `run_script` step runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// The appliance the event is about.
    EventAppliance,
    /// Every live appliance of the named layer.
    Layer { name: String },
    /// Every live appliance of the named group.
    Group { name: String },
    /// Every live appliance whose template has this role.
    Role { role: ApplianceRole },
    /// Every live appliance of the application.
    All,
}

/// One action of a chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Run a CloudScript on the target's appliances (the step ends when every one has ended).
    RunScript {
        script_id: ScriptId,
        /// Pinned; the latest version when absent.
        version: Option<u32>,
        target: Target,
        /// Values of the script's variables; strings are rendered as templates first, so a value can
        /// be an expression such as `{{ layer("app").ips | join(",") }}`.
        #[serde(default)]
        variables: BTreeMap<String, Value>,
    },
    /// Change a group's desired size, by `by` or to `to`, kept within its min and max.
    Scale {
        group: String,
        by: Option<i32>,
        to: Option<u32>,
    },
    /// Send an email (delivered once the installation has a mailer).
    Email {
        to: Vec<String>,
        subject: String,
        body: String,
    },
    /// POST the event and run as JSON, signed with HMAC-SHA256 of the body under `secret`
    /// (header `X-ScaleInfra-Signature: sha256=<hex>`).
    Webhook { url: String, secret: Option<String> },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The run fails and its later steps are skipped.
    #[default]
    Stop,
    /// The next step runs anyway.
    Continue,
}

/// A step of a chain: an action with its timeout, retries and what a failure does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub action: Action,
    #[serde(default = "default_timeout")]
    #[validate(range(min = 1, max = 3600))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub timeout_secs: u32,
    /// Further attempts after a failure.
    #[serde(default)]
    #[validate(range(max = 10))]
    #[cfg_attr(feature = "openapi", schema(maximum = 10))]
    pub retries: u32,
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn default_true() -> bool {
    true
}

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    #[validate(custom(function = "crate::validate::name"))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[validate(custom(function = "event_type"))]
    pub event_type: String,
    #[serde(default)]
    #[validate(nested)]
    pub filter: RuleFilter,
    /// Required for `metric.threshold`, refused for other events.
    #[validate(nested)]
    pub condition: Option<Condition>,
    /// After firing, the rule ignores its events for this long.
    #[serde(default)]
    #[validate(range(max = 86400))]
    #[cfg_attr(feature = "openapi", schema(maximum = 86400))]
    pub cooldown_secs: u32,
    /// `schedule.fired` rules: a cron expression (seconds field first, UTC).
    #[validate(length(min = 1, max = 100))]
    pub schedule: Option<String>,
    #[validate(length(min = 1, max = 16), nested)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 16))]
    pub steps: Vec<Step>,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// Change a rule: fields given replace the rule's.
#[derive(Clone, Debug, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRuleRequest {
    #[validate(custom(function = "crate::validate::name"))]
    pub name: Option<String>,
    #[validate(nested)]
    pub filter: Option<RuleFilter>,
    #[validate(nested)]
    pub condition: Option<Condition>,
    #[validate(range(max = 86400))]
    pub cooldown_secs: Option<u32>,
    #[validate(length(min = 1, max = 100))]
    pub schedule: Option<String>,
    #[validate(length(min = 1, max = 16), nested)]
    pub steps: Option<Vec<Step>>,
    pub enabled: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// Made by a user.
    User,
    /// The default load-balancer wiring of an application.
    Default,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleResponse {
    pub id: RuleId,
    pub application_id: ApplicationId,
    pub name: String,
    pub event_type: String,
    pub filter: RuleFilter,
    pub condition: Option<Condition>,
    pub cooldown_secs: u32,
    pub schedule: Option<String>,
    /// Webhook secrets show as `********`; sending that back keeps the stored secret.
    pub steps: Vec<Step>,
    pub enabled: bool,
    pub origin: RuleOrigin,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Not run: an earlier step failed and stopped the chain, or the action cannot run here.
    Skipped,
}

/// How one step of a run went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepRun {
    pub status: StepStatus,
    /// Attempts made (1 + retries used).
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the step did or why it failed (secrets masked).
    pub output: String,
    /// The script jobs of a `run_script` step (their output is under `/jobs/{id}`).
    pub jobs: Vec<JobId>,
}

impl StepRun {
    pub fn pending() -> Self {
        StepRun {
            status: StepStatus::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            output: String::new(),
            jobs: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunResponse {
    pub id: RunId,
    pub application_id: ApplicationId,
    pub rule_id: RuleId,
    pub event_id: EventId,
    pub event_type: String,
    /// The appliance the event was about.
    pub appliance_id: Option<ApplianceId>,
    pub status: RunStatus,
    /// The step running or next to run.
    pub step: u32,
    pub steps: Vec<StepRun>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_and_variable_names() {
        assert!(event_type("appliance.came_alive").is_ok());
        assert!(event_type("custom.deployed").is_ok());
        for bad in ["appliance.exploded", "custom.", "custom.Bad", ""] {
            assert!(event_type(bad).is_err(), "{bad}");
        }
        assert!(variable_name("backend_port").is_ok());
        for bad in ["Port", "1x", "a-b", "a.b", ""] {
            assert!(variable_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn variable_types_admit_their_values() {
        let table = [
            (VarType::String, serde_json::json!("x"), true),
            (VarType::String, serde_json::json!(1), false),
            (VarType::Int, serde_json::json!(80), true),
            (VarType::Int, serde_json::json!(1.5), false),
            (VarType::Bool, serde_json::json!(true), true),
            (VarType::List, serde_json::json!(["a", "b"]), true),
            (VarType::List, serde_json::json!(["a", 1]), false),
        ];
        for (t, v, ok) in table {
            assert_eq!(t.admits(&v), ok, "{t:?} {v}");
        }
    }

    #[test]
    fn a_script_declares_each_variable_once_with_a_default_of_its_type() {
        let decl = |name: &str, t, default| VariableDecl {
            name: name.into(),
            type_: t,
            default,
            required: false,
            secret: false,
            description: String::new(),
        };
        let ok = ScriptVersionRequest {
            body: "#!/bin/sh\necho hi\n".into(),
            variables: vec![decl("port", VarType::Int, Some(serde_json::json!(80)))],
            timeout_secs: 60,
        };
        assert!(ok.validate().is_ok());
        let twice = ScriptVersionRequest {
            variables: vec![
                decl("port", VarType::Int, None),
                decl("port", VarType::Int, None),
            ],
            ..ok.clone()
        };
        assert!(twice.validate().is_err());
        let wrong = ScriptVersionRequest {
            variables: vec![decl("port", VarType::Int, Some(serde_json::json!("80")))],
            ..ok.clone()
        };
        assert!(wrong.validate().is_err());
        let huge = ScriptVersionRequest {
            body: "x".repeat(SCRIPT_MAX_BYTES + 1),
            ..ok
        };
        assert!(huge.validate().is_err());
    }
}
