//! The agent's side of the protocol over HTTP (blocking; the agent has nothing else to do).

use crate::identity::Identity;
use common::agent::{
    AnnounceRequest, AnnounceResponse, HeartbeatRequest, JobsResponse, MetricsReport,
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
}
