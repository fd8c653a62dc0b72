//! The agent's side of the protocol over HTTP (blocking; the agent has nothing else to do).

use crate::identity::Identity;
use common::agent::{
    AnnounceRequest, AnnounceResponse, EventRequest, EventResponse, HeartbeatRequest, JobResult,
    JobsResponse, MetricsReport,
};
use std::time::Duration;

/// What a call can end with.
#[derive(Debug)]
pub enum CallError {
    /// The appliance is terminated: the agent must stop (HTTP 410).
    Revoked,
    /// The token is refused (HTTP 401).
    Unauthorized,
    /// Anything else (network, server error): try again later.
    Retry(String),
}

pub struct Client {
    id: Identity,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(id: Identity) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build();
        Client {
            id,
            agent: config.into(),
        }
    }

    fn check(status: u16) -> Result<(), CallError> {
        match status {
            200..=299 => Ok(()),
            401 => Err(CallError::Unauthorized),
            410 => Err(CallError::Revoked),
            s => Err(CallError::Retry(format!("HTTP {s}"))),
        }
    }

    fn post<B: serde::Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<ureq::http::Response<ureq::Body>, CallError> {
        let r = self
            .agent
            .post(&format!("{}/agent/v1/{path}", self.id.url))
            .header("Authorization", &format!("Bearer {}", self.id.token))
            .send_json(body)
            .map_err(|e| CallError::Retry(e.to_string()))?;
        Self::check(r.status().as_u16())?;
        Ok(r)
    }

    pub fn announce(&self, req: &AnnounceRequest) -> Result<AnnounceResponse, CallError> {
        let mut r = self.post("announce", req)?;
        r.body_mut()
            .read_json()
            .map_err(|e| CallError::Retry(e.to_string()))
    }

    pub fn heartbeat(&self, req: &HeartbeatRequest) -> Result<(), CallError> {
        self.post("heartbeat", req).map(|_| ())
    }

    pub fn metrics(&self, report: &MetricsReport) -> Result<(), CallError> {
        self.post("metrics", report).map(|_| ())
    }

    pub fn jobs(&self) -> Result<JobsResponse, CallError> {
        let mut r = self
            .agent
            .get(&format!("{}/agent/v1/jobs", self.id.url))
            .header("Authorization", &format!("Bearer {}", self.id.token))
            .call()
            .map_err(|e| CallError::Retry(e.to_string()))?;
        Self::check(r.status().as_u16())?;
        r.body_mut()
            .read_json()
            .map_err(|e| CallError::Retry(e.to_string()))
    }

    /// Reports how job `id` ended. A job the orchestrator no longer knows (404) or already has a
    /// result for (409) needs nothing more, so those count as done.
    pub fn report(&self, id: &str, result: &JobResult) -> Result<(), CallError> {
        let r = self
            .agent
            .post(&format!(
                "{}/agent/v1/jobs/{}/result",
                self.id.url,
                path_segment(id)
            ))
            .header("Authorization", &format!("Bearer {}", self.id.token))
            .send_json(result)
            .map_err(|e| CallError::Retry(e.to_string()))?;
        match r.status().as_u16() {
            404 | 409 => Ok(()),
            s => Self::check(s),
        }
    }
}

/// Why a custom event was not recorded, for the script that posted it.
#[derive(Debug, PartialEq, Eq)]
pub enum EmitError {
    /// Refused as it is (HTTP 422, 400): the server's words.
    Invalid(String),
    /// Too many events: try again after this many seconds (HTTP 429).
    TooMany(Option<u64>),
    /// The appliance is terminated, the token refused, or the server unreachable.
    Failed(String),
}

impl Client {
    /// Post a custom event about this appliance (`custom.<name>`).
    pub fn emit(&self, req: &EventRequest) -> Result<EventResponse, EmitError> {
        let mut r = self
            .agent
            .post(&format!("{}/agent/v1/events", self.id.url))
            .header("Authorization", &format!("Bearer {}", self.id.token))
            .send_json(req)
            .map_err(|e| EmitError::Failed(e.to_string()))?;
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = r.body_mut().read_to_string().unwrap_or_default();
        match status {
            200..=299 => serde_json::from_str(&text).map_err(|e| EmitError::Failed(e.to_string())),
            429 => Err(EmitError::TooMany(retry_after)),
            400 | 422 => Err(EmitError::Invalid(problem_words(&text))),
            s => Err(EmitError::Failed(format!(
                "HTTP {s}: {}",
                problem_words(&text)
            ))),
        }
    }
}

/// The words of a problem+json answer: its detail and field messages (else the text itself).
fn problem_words(text: &str) -> String {
    let Ok(p) = serde_json::from_str::<common::Problem>(text) else {
        return text.chars().take(500).collect();
    };
    let mut words = p.detail.unwrap_or(p.title);
    for e in p.errors {
        words.push_str(&format!("; {}: {}", e.field, e.message));
    }
    words
}

/// `id` as one URL path segment: `[A-Za-z0-9-]` as is, every other byte percent-encoded (dots too, so
/// an id can never read as `..`).
fn path_segment(id: &str) -> String {
    use std::fmt::Write;
    id.bytes()
        .fold(String::with_capacity(id.len()), |mut s, b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                s.push(char::from(b));
            } else {
                let _ = write!(s, "%{b:02X}");
            }
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_become_one_path_segment() {
        assert_eq!(path_segment("0190-abC"), "0190-abC");
        assert_eq!(path_segment("../x y/é"), "%2E%2E%2Fx%20y%2F%C3%A9");
        assert_eq!(path_segment("?#%"), "%3F%23%25");
    }
}
