//! The event-rule form's draft (text fields as typed) and how it becomes a create or an update
//! request, with the server's field paths (`steps[0].action.variables.port`); and the sentences the
//! rules list reads (filter, steps).

use super::scripts::{value_to_text, values};
use common::FieldError;
use common::api::{
    Action, Aggregate, ApplianceRole, Comparator, Condition, CreateRuleRequest, EVENT_TYPES,
    OnFailure, RuleFilter, RuleResponse, ScriptResponse, Step, Target, UpdateRuleRequest,
};
use common::validate::field_errors;
use std::collections::BTreeMap;
use validator::Validate;

/// The kinds of action a step may take, with their labels.
pub const ACTIONS: [(&str, &str); 4] = [
    ("run_script", "Run a CloudScript"),
    ("scale", "Scale a group"),
    ("webhook", "Call a webhook"),
    ("email", "Send an email"),
];

/// Where a script step runs, with labels.
pub const TARGETS: [(&str, &str); 5] = [
    ("event_appliance", "The event's appliance"),
    ("layer", "A layer"),
    ("group", "A group"),
    ("role", "Appliances of a role"),
    ("all", "Every appliance"),
];

/// The event types a new rule offers, with labels.
pub fn event_choices() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = EVENT_TYPES
        .iter()
        .map(|t| ((*t).to_owned(), (*t).to_owned()))
        .collect();
    out.push((
        "custom".to_owned(),
        "custom.<name> (posted by a script)".to_owned(),
    ));
    out
}

fn error(field: impl Into<String>, message: &str) -> FieldError {
    FieldError {
        field: field.into(),
        code: "invalid_number".into(),
        message: message.into(),
    }
}

/// A number typed into `field`.
fn number<T: std::str::FromStr>(
    text: &str,
    field: impl Into<String>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match text.trim().parse::<T>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(error(field, "must be a number"));
            None
        }
    }
}

/// One step as the form holds it (the fields of every action kind; `kind` picks the ones used).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepDraft {
    pub kind: String,
    pub script_id: String,
    /// Blank: follow the latest version.
    pub version: String,
    pub target: String,
    /// The layer's or group's name, or the role, for targets that take one.
    pub target_arg: String,
    /// Variable name → value as typed.
    pub variables: BTreeMap<String, String>,
    pub scale_group: String,
    /// `by` or `to`.
    pub scale_mode: String,
    pub scale_amount: String,
    pub url: String,
    pub secret: String,
    pub email_to: String,
    pub subject: String,
    pub body: String,
    pub timeout: String,
    pub retries: String,
    pub continue_on_failure: bool,
}

impl Default for StepDraft {
    fn default() -> Self {
        Self {
            kind: "run_script".into(),
            script_id: String::new(),
            version: String::new(),
            target: "event_appliance".into(),
            target_arg: String::new(),
            variables: BTreeMap::new(),
            scale_group: String::new(),
            scale_mode: "by".into(),
            scale_amount: "1".into(),
            url: String::new(),
            secret: String::new(),
            email_to: String::new(),
            subject: String::new(),
            body: String::new(),
            timeout: "300".into(),
            retries: "0".into(),
            continue_on_failure: false,
        }
    }
}

/// The rule form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleDraft {
    pub name: String,
    /// One of the event types, or `custom` with `custom_name`.
    pub event_type: String,
    pub custom_name: String,
    pub layer: String,
    pub group: String,
    /// Blank: any role.
    pub role: String,
    pub cooldown: String,
    pub schedule: String,
    pub metric: String,
    pub aggregate: String,
    pub window: String,
    pub comparator: String,
    pub threshold: String,
    pub for_secs: String,
    pub steps: Vec<StepDraft>,
    pub enabled: bool,
}

impl Default for RuleDraft {
    fn default() -> Self {
        Self {
            name: String::new(),
            event_type: "appliance.came_alive".into(),
            custom_name: String::new(),
            layer: String::new(),
            group: String::new(),
            role: String::new(),
            cooldown: "0".into(),
            schedule: String::new(),
            metric: "cpu_pct".into(),
            aggregate: "avg".into(),
            window: "60".into(),
            comparator: "gt".into(),
            threshold: "80".into(),
            for_secs: "0".into(),
            steps: vec![StepDraft::default()],
            enabled: true,
        }
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn aggregate(s: &str) -> Aggregate {
    match s {
        "max" => Aggregate::Max,
        "min" => Aggregate::Min,
        "p95" => Aggregate::P95,
        _ => Aggregate::Avg,
    }
}

fn aggregate_str(a: Aggregate) -> &'static str {
    match a {
        Aggregate::Avg => "avg",
        Aggregate::Max => "max",
        Aggregate::Min => "min",
        Aggregate::P95 => "p95",
    }
}

fn comparator(s: &str) -> Comparator {
    match s {
        "ge" => Comparator::Ge,
        "lt" => Comparator::Lt,
        "le" => Comparator::Le,
        _ => Comparator::Gt,
    }
}

/// A comparator as the form and the list read it.
pub fn comparator_str(c: Comparator) -> &'static str {
    match c {
        Comparator::Gt => "gt",
        Comparator::Ge => "ge",
        Comparator::Lt => "lt",
        Comparator::Le => "le",
    }
}

fn comparator_sign(c: Comparator) -> &'static str {
    match c {
        Comparator::Gt => ">",
        Comparator::Ge => "≥",
        Comparator::Lt => "<",
        Comparator::Le => "≤",
    }
}

impl StepDraft {
    fn of(step: &Step) -> Self {
        let mut d = StepDraft {
            timeout: step.timeout_secs.to_string(),
            retries: step.retries.to_string(),
            continue_on_failure: step.on_failure == OnFailure::Continue,
            ..StepDraft::default()
        };
        match &step.action {
            Action::RunScript {
                script_id,
                version,
                target,
                variables,
            } => {
                d.kind = "run_script".into();
                d.script_id = script_id.to_string();
                d.version = version.map(|v| v.to_string()).unwrap_or_default();
                (d.target, d.target_arg) = match target {
                    Target::EventAppliance => ("event_appliance".into(), String::new()),
                    Target::Layer { name } => ("layer".into(), name.clone()),
                    Target::Group { name } => ("group".into(), name.clone()),
                    Target::Role { role } => ("role".into(), role.as_str().to_owned()),
                    Target::All => ("all".into(), String::new()),
                };
                d.variables = variables
                    .iter()
                    .map(|(k, v)| (k.clone(), value_to_text(v)))
                    .collect();
            }
            Action::Scale { group, by, to } => {
                d.kind = "scale".into();
                d.scale_group = group.clone();
                (d.scale_mode, d.scale_amount) = match (by, to) {
                    (_, Some(n)) => ("to".into(), n.to_string()),
                    (Some(n), None) => ("by".into(), n.to_string()),
                    (None, None) => ("by".into(), "1".into()),
                };
            }
            Action::Webhook { url, secret } => {
                d.kind = "webhook".into();
                d.url = url.clone();
                d.secret = secret.clone().unwrap_or_default();
            }
            Action::Email { to, subject, body } => {
                d.kind = "email".into();
                d.email_to = to.join(", ");
                d.subject = subject.clone();
                d.body = body.clone();
            }
        }
        d
    }

    fn step(
        &self,
        i: usize,
        scripts: &[ScriptResponse],
        errors: &mut Vec<FieldError>,
    ) -> Option<Step> {
        let at = |f: &str| format!("steps[{i}].{f}");
        let action = match self.kind.as_str() {
            "scale" => {
                let (by, to) = if self.scale_mode == "to" {
                    (
                        None,
                        number::<u32>(&self.scale_amount, at("action.to"), errors),
                    )
                } else {
                    (
                        number::<i32>(&self.scale_amount, at("action.by"), errors),
                        None,
                    )
                };
                if self.scale_group.trim().is_empty() {
                    errors.push(FieldError {
                        field: at("action.group"),
                        code: "required".into(),
                        message: "choose a group".into(),
                    });
                }
                Action::Scale {
                    group: self.scale_group.trim().to_owned(),
                    by,
                    to,
                }
            }
            "webhook" => Action::Webhook {
                url: self.url.trim().to_owned(),
                secret: opt(&self.secret),
            },
            "email" => Action::Email {
                to: self
                    .email_to
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                subject: self.subject.trim().to_owned(),
                body: self.body.clone(),
            },
            _ => {
                let script = scripts.iter().find(|s| s.id.to_string() == self.script_id);
                let Some(script) = script else {
                    errors.push(FieldError {
                        field: at("action.script_id"),
                        code: "required".into(),
                        message: "choose a script".into(),
                    });
                    return None;
                };
                let version = opt(&self.version)
                    .and_then(|v| number::<u32>(&v, at("action.version"), errors));
                let target = match self.target.as_str() {
                    "layer" => Target::Layer {
                        name: self.target_arg.trim().to_owned(),
                    },
                    "group" => Target::Group {
                        name: self.target_arg.trim().to_owned(),
                    },
                    "role" => match self.target_arg.parse::<ApplianceRole>() {
                        Ok(role) => Target::Role { role },
                        Err(_) => {
                            errors.push(FieldError {
                                field: at("action.target"),
                                code: "required".into(),
                                message: "choose a role".into(),
                            });
                            return None;
                        }
                    },
                    "all" => Target::All,
                    _ => Target::EventAppliance,
                };
                if matches!(self.target.as_str(), "layer" | "group")
                    && self.target_arg.trim().is_empty()
                {
                    errors.push(FieldError {
                        field: at("action.target"),
                        code: "required".into(),
                        message: format!("choose a {}", self.target),
                    });
                }
                // values are typed by the latest version's declarations; a step pinned to another
                // version sends them as typed, and the server reads them as that version declares
                let decls: &[common::api::VariableDecl] =
                    if version.is_some_and(|v| v != script.latest_version) {
                        &[]
                    } else {
                        &script.latest.variables
                    };
                let variables = match values(decls, &self.variables, &at("action.variables")) {
                    Ok(v) => v,
                    Err(e) => {
                        errors.extend(e);
                        BTreeMap::new()
                    }
                };
                Action::RunScript {
                    script_id: script.id,
                    version,
                    target,
                    variables,
                }
            }
        };
        let timeout_secs = number(&self.timeout, at("timeout_secs"), errors)?;
        let retries = number(&self.retries, at("retries"), errors)?;
        Some(Step {
            action,
            timeout_secs,
            retries,
            on_failure: if self.continue_on_failure {
                OnFailure::Continue
            } else {
                OnFailure::Stop
            },
        })
    }
}

impl RuleDraft {
    /// The form of a stored rule.
    pub fn of(r: &RuleResponse) -> Self {
        let (event_type, custom_name) = match r.event_type.strip_prefix("custom.") {
            Some(n) => ("custom".to_owned(), n.to_owned()),
            None => (r.event_type.clone(), String::new()),
        };
        let base = RuleDraft::default();
        let mut d = RuleDraft {
            name: r.name.clone(),
            event_type,
            custom_name,
            layer: r.filter.layer.clone().unwrap_or_default(),
            group: r.filter.group.clone().unwrap_or_default(),
            role: r
                .filter
                .role
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
            cooldown: r.cooldown_secs.to_string(),
            schedule: r.schedule.clone().unwrap_or_default(),
            steps: r.steps.iter().map(StepDraft::of).collect(),
            enabled: r.enabled,
            ..base
        };
        if let Some(c) = &r.condition {
            d.metric = c.metric.clone();
            d.aggregate = aggregate_str(c.aggregate).into();
            d.window = c.window_secs.to_string();
            d.comparator = comparator_str(c.comparator).into();
            d.threshold = c.threshold.to_string();
            d.for_secs = c.for_secs.to_string();
        }
        d
    }

    /// The event type the rule takes.
    pub fn event(&self) -> String {
        if self.event_type == "custom" {
            format!("custom.{}", self.custom_name.trim())
        } else {
            self.event_type.clone()
        }
    }

    /// A new rule, or the errors to show (local ones, then the server's own rules).
    pub fn create(&self, scripts: &[ScriptResponse]) -> Result<CreateRuleRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let cooldown_secs = number(&self.cooldown, "cooldown_secs", &mut errors).unwrap_or(0);
        let event_type = self.event();
        let condition = (event_type == "metric.threshold").then(|| {
            let window_secs = number(&self.window, "condition.window_secs", &mut errors);
            let threshold = number::<f64>(&self.threshold, "condition.threshold", &mut errors)
                .filter(|t| t.is_finite());
            let for_secs = number(&self.for_secs, "condition.for_secs", &mut errors);
            Condition {
                metric: self.metric.trim().to_owned(),
                aggregate: aggregate(&self.aggregate),
                window_secs: window_secs.unwrap_or(0),
                comparator: comparator(&self.comparator),
                threshold: threshold.unwrap_or(0.0),
                for_secs: for_secs.unwrap_or(0),
            }
        });
        let schedule = (event_type == "schedule.fired")
            .then(|| opt(&self.schedule))
            .flatten();
        if event_type == "schedule.fired" && schedule.is_none() {
            errors.push(FieldError {
                field: "schedule".into(),
                code: "required".into(),
                message: "a schedule.fired rule needs a schedule".into(),
            });
        }
        let steps: Vec<Step> = self
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.step(i, scripts, &mut errors))
            .collect();
        let role = opt(&self.role).and_then(|r| r.parse::<ApplianceRole>().ok());
        let req = CreateRuleRequest {
            name: self.name.trim().to_owned(),
            event_type,
            filter: RuleFilter {
                layer: opt(&self.layer),
                group: opt(&self.group),
                role,
            },
            condition,
            cooldown_secs,
            schedule,
            steps,
            enabled: self.enabled,
        };
        if errors.is_empty()
            && let Err(e) = req.validate()
        {
            errors.extend(field_errors(&e));
        }
        if errors.is_empty() {
            Ok(req)
        } else {
            Err(errors)
        }
    }

    /// The change of a stored rule: every field the form holds (its event type stays).
    pub fn update(&self, scripts: &[ScriptResponse]) -> Result<UpdateRuleRequest, Vec<FieldError>> {
        let c = self.create(scripts)?;
        Ok(UpdateRuleRequest {
            name: Some(c.name),
            filter: Some(c.filter),
            condition: c.condition,
            cooldown_secs: Some(c.cooldown_secs),
            schedule: c.schedule,
            steps: Some(c.steps),
            enabled: Some(c.enabled),
        })
    }
}

/// The fields of a rule form, for placing errors.
pub fn inputs(d: &RuleDraft) -> Vec<String> {
    let mut out: Vec<String> = [
        "name",
        "event_type",
        "filter.layer",
        "filter.group",
        "filter.role",
        "cooldown_secs",
        "schedule",
        "condition.metric",
        "condition.window_secs",
        "condition.threshold",
        "condition.for_secs",
        "steps",
    ]
    .map(str::to_owned)
    .to_vec();
    for (i, s) in d.steps.iter().enumerate() {
        for f in [
            "action",
            "action.script_id",
            "action.version",
            "action.target",
            "action.group",
            "action.by",
            "action.to",
            "action.url",
            "action.secret",
            "action.subject",
            "timeout_secs",
            "retries",
        ] {
            out.push(format!("steps[{i}].{f}"));
        }
        for v in s.variables.keys() {
            out.push(format!("steps[{i}].action.variables.{v}"));
        }
    }
    out
}

/// The rule's filter in words ("any appliance" when it has none).
pub fn filter_text(f: &RuleFilter) -> String {
    let mut parts = Vec::new();
    if let Some(l) = &f.layer {
        parts.push(format!("layer {l}"));
    }
    if let Some(g) = &f.group {
        parts.push(format!("group {g}"));
    }
    if let Some(r) = f.role {
        parts.push(format!("role {}", r.as_str()));
    }
    if parts.is_empty() {
        "any appliance".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A condition in words: `avg(cpu_pct over 60 s) > 80 for 30 s`.
pub fn condition_text(c: &Condition) -> String {
    let mut s = format!(
        "{}({} over {} s) {} {}",
        aggregate_str(c.aggregate),
        c.metric,
        c.window_secs,
        comparator_sign(c.comparator),
        c.threshold
    );
    if c.for_secs > 0 {
        s.push_str(&format!(" for {} s", c.for_secs));
    }
    s
}

/// One step in words, naming scripts by name.
pub fn step_text(s: &Step, scripts: &[ScriptResponse]) -> String {
    match &s.action {
        Action::RunScript {
            script_id, target, ..
        } => {
            let name = scripts
                .iter()
                .find(|x| x.id == *script_id)
                .map_or_else(|| "a script".to_owned(), |x| x.name.clone());
            let on = match target {
                Target::EventAppliance => "the event's appliance".to_owned(),
                Target::Layer { name } => format!("layer {name}"),
                Target::Group { name } => format!("group {name}"),
                Target::Role { role } => format!("role {}", role.as_str()),
                Target::All => "every appliance".to_owned(),
            };
            format!("run {name} on {on}")
        }
        Action::Scale { group, by, to } => match (by, to) {
            (_, Some(n)) => format!("scale {group} to {n}"),
            (Some(n), None) => format!("scale {group} by {n:+}"),
            (None, None) => format!("scale {group}"),
        },
        Action::Webhook { url, .. } => format!("POST to {url}"),
        Action::Email { to, .. } => format!("email {}", to.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use common::api::{ScriptVersionResponse, VarType, VariableDecl};
    use common::{ApplicationId, RuleId, ScriptId};
    use serde_json::json;

    fn script(name: &str) -> ScriptResponse {
        let now = Utc::now();
        ScriptResponse {
            id: ScriptId::new(),
            tenant_id: None,
            name: name.into(),
            description: String::new(),
            latest_version: 1,
            latest: ScriptVersionResponse {
                version: 1,
                body: "#!/bin/sh\n".into(),
                variables: vec![VariableDecl {
                    name: "port".into(),
                    type_: VarType::Int,
                    default: Some(json!(80)),
                    required: false,
                    secret: false,
                    description: String::new(),
                }],
                timeout_secs: 60,
                interpreter: "/bin/sh".into(),
                created_at: now,
            },
            created_at: now,
            updated_at: now,
        }
    }

    fn fields(e: Vec<FieldError>) -> Vec<String> {
        let mut f: Vec<_> = e.into_iter().map(|e| e.field).collect();
        f.sort();
        f
    }

    #[test]
    fn a_script_step_becomes_its_action_with_typed_variables() {
        let s = script("health-check");
        let d = RuleDraft {
            name: "Check new app servers".into(),
            role: "app_server".into(),
            steps: vec![StepDraft {
                script_id: s.id.to_string(),
                variables: BTreeMap::from([("port".into(), "8080".into())]),
                retries: "2".into(),
                continue_on_failure: true,
                ..StepDraft::default()
            }],
            ..RuleDraft::default()
        };
        let req = d.create(std::slice::from_ref(&s)).expect("valid");
        assert_eq!(req.filter.role, Some(ApplianceRole::AppServer));
        assert_eq!(req.condition, None);
        assert_eq!(req.steps[0].retries, 2);
        assert_eq!(req.steps[0].on_failure, OnFailure::Continue);
        let Action::RunScript {
            variables, target, ..
        } = &req.steps[0].action
        else {
            panic!("not a script step")
        };
        assert_eq!(variables["port"], json!(8080));
        assert_eq!(*target, Target::EventAppliance);
        assert_eq!(
            step_text(&req.steps[0], &[s]),
            "run health-check on the event's appliance"
        );
    }

    #[test]
    fn bad_fields_are_named_by_the_servers_paths() {
        let s = script("x");
        let d = RuleDraft {
            name: " ".into(),
            event_type: "metric.threshold".into(),
            window: "a minute".into(),
            cooldown: "-1".into(),
            steps: vec![
                StepDraft {
                    script_id: s.id.to_string(),
                    variables: BTreeMap::from([("port".into(), "http".into())]),
                    target: "layer".into(),
                    ..StepDraft::default()
                },
                StepDraft {
                    kind: "scale".into(),
                    scale_amount: "two".into(),
                    ..StepDraft::default()
                },
                StepDraft {
                    script_id: "gone".into(),
                    ..StepDraft::default()
                },
            ],
            ..RuleDraft::default()
        };
        assert_eq!(
            fields(d.create(std::slice::from_ref(&s)).unwrap_err()),
            [
                "condition.window_secs",
                "cooldown_secs",
                "steps[0].action.target",
                "steps[0].action.variables.port",
                "steps[1].action.by",
                "steps[1].action.group",
                "steps[2].action.script_id",
            ]
        );
        // Once the numbers are right, the server's rules of the request speak.
        let d = RuleDraft {
            name: " ".into(),
            steps: Vec::new(),
            ..RuleDraft::default()
        };
        assert_eq!(fields(d.create(&[]).unwrap_err()), ["name", "steps"]);
        let d = RuleDraft {
            name: "Nightly".into(),
            event_type: "schedule.fired".into(),
            steps: Vec::new(),
            ..RuleDraft::default()
        };
        assert_eq!(fields(d.create(&[]).unwrap_err()), ["schedule"]);
    }

    #[test]
    fn a_stored_rule_round_trips_through_its_form() {
        let s = script("haproxy-add-app-servers");
        let now = Utc::now();
        let rule = RuleResponse {
            id: RuleId::new(),
            application_id: ApplicationId::new(),
            name: "Hot".into(),
            event_type: "metric.threshold".into(),
            filter: RuleFilter {
                layer: Some("app".into()),
                group: None,
                role: None,
            },
            condition: Some(Condition {
                metric: "cpu_pct".into(),
                aggregate: Aggregate::P95,
                window_secs: 120,
                comparator: Comparator::Ge,
                threshold: 75.5,
                for_secs: 30,
            }),
            cooldown_secs: 300,
            schedule: None,
            steps: vec![
                Step {
                    action: Action::Scale {
                        group: "app".into(),
                        by: Some(2),
                        to: None,
                    },
                    timeout_secs: 60,
                    retries: 1,
                    on_failure: OnFailure::Stop,
                },
                Step {
                    action: Action::RunScript {
                        script_id: s.id,
                        version: Some(1),
                        target: Target::Role {
                            role: ApplianceRole::LoadBalancer,
                        },
                        variables: BTreeMap::from([(
                            "port".into(),
                            json!("{{ layer('app').count }}"),
                        )]),
                    },
                    timeout_secs: 300,
                    retries: 0,
                    on_failure: OnFailure::Continue,
                },
                Step {
                    action: Action::Webhook {
                        url: "https://hooks.example/x".into(),
                        secret: Some(common::api::MASK.into()),
                    },
                    timeout_secs: 10,
                    retries: 3,
                    on_failure: OnFailure::Stop,
                },
            ],
            enabled: false,
            origin: common::api::RuleOrigin::User,
            last_fired_at: None,
            created_at: now,
            updated_at: now,
        };
        let d = RuleDraft::of(&rule);
        let back = d.create(std::slice::from_ref(&s)).expect("valid");
        assert_eq!(back.filter, rule.filter);
        assert_eq!(back.condition, rule.condition);
        assert_eq!(back.steps, rule.steps);
        assert_eq!(back.cooldown_secs, 300);
        assert!(!back.enabled);
        let u = d.update(std::slice::from_ref(&s)).expect("valid");
        assert_eq!(u.steps.as_deref(), Some(&rule.steps[..]));
        assert_eq!(
            condition_text(rule.condition.as_ref().expect("set")),
            "p95(cpu_pct over 120 s) ≥ 75.5 for 30 s"
        );
        assert_eq!(filter_text(&rule.filter), "layer app");
        assert_eq!(step_text(&rule.steps[0], &[]), "scale app by +2");
    }

    #[test]
    fn a_step_pinned_to_an_older_version_sends_its_values_as_typed() {
        let mut s = script("x");
        s.latest_version = 2;
        s.latest.version = 2;
        let step = |version: &str| RuleDraft {
            name: "pinned".into(),
            steps: vec![StepDraft {
                script_id: s.id.to_string(),
                version: version.into(),
                variables: BTreeMap::from([("port".into(), "8080".into())]),
                ..StepDraft::default()
            }],
            ..RuleDraft::default()
        };
        let value = |d: RuleDraft| match d.create(std::slice::from_ref(&s)).expect("valid").steps[0]
            .action
            .clone()
        {
            Action::RunScript { variables, .. } => variables["port"].clone(),
            _ => panic!("not a script step"),
        };
        // the latest version declares port an int; version 1 may not: the server reads the text
        assert_eq!(value(step("")), json!(8080));
        assert_eq!(value(step("2")), json!(8080));
        assert_eq!(value(step("1")), json!("8080"));
    }

    #[test]
    fn custom_events_carry_their_name() {
        let d = RuleDraft {
            event_type: "custom".into(),
            custom_name: "deployed".into(),
            ..RuleDraft::default()
        };
        assert_eq!(d.event(), "custom.deployed");
        assert!(event_choices().iter().any(|(v, _)| v == "schedule.fired"));
    }
}
