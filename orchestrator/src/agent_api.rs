//! The server side of the agent protocol: announce (the appliance came alive), heartbeat, metrics,
//! jobs. Served over HTTP at `/agent/v1` and called in-process by simulated appliances.

use crate::tokens::TokenKey;
use async_trait::async_trait;
use common::agent::{
    AnnounceRequest, AnnounceResponse, HeartbeatRequest, JobsResponse, MetricsReport,
};
use common::{ApplianceId, ApplianceState};
use store::repo::events::Subject;
use store::repo::{appliances, applications, events, metrics};
use store::time::now;
use store::{Appliance, Store, StoreError};

/// Why an agent call is refused.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Not a token of this installation.
    #[error("invalid agent token")]
    InvalidToken,
    /// The appliance is terminated (or failed): its agent must stop.
    #[error("this appliance is no longer active")]
    Revoked,
    #[error("store error")]
    Store(#[from] StoreError),
}

/// The agent protocol, as the agent sees it.
#[async_trait]
pub trait AgentEndpoint: Send + Sync {
    async fn announce(
        &self,
        token: &str,
        req: AnnounceRequest,
    ) -> Result<AnnounceResponse, AgentError>;
    async fn heartbeat(&self, token: &str, req: HeartbeatRequest) -> Result<(), AgentError>;
    async fn metrics(&self, token: &str, report: MetricsReport) -> Result<(), AgentError>;
    async fn jobs(&self, token: &str) -> Result<JobsResponse, AgentError>;
}

/// The agent protocol over the store.
#[derive(Clone, Debug)]
pub struct AgentService {
    pub store: Store,
    pub key: TokenKey,
    pub heartbeat_secs: u32,
    pub metrics_secs: u32,
}

impl AgentService {
    /// The agent protocol of an installation: its token key (from the database) and the pace agents keep.
    pub async fn open(
        store: Store,
        config: &crate::OrchestratorConfig,
    ) -> Result<AgentService, StoreError> {
        let key = crate::token_key(&store).await?;
        Ok(AgentService {
            store,
            key,
            heartbeat_secs: config.heartbeat_secs,
            metrics_secs: config.metrics_secs,
        })
    }

    fn id(&self, token: &str) -> Result<ApplianceId, AgentError> {
        self.key.verify(token).ok_or(AgentError::InvalidToken)
    }

    async fn load(&self, id: ApplianceId) -> Result<Appliance, AgentError> {
        let a = self
            .store
            .read(move |c| appliances::get_any(c, id))
            .await?
            .ok_or(AgentError::InvalidToken)?;
        if matches!(a.state, ApplianceState::Terminated | ApplianceState::Failed) {
            return Err(AgentError::Revoked);
        }
        Ok(a)
    }
}

/// Move an appliance along, tolerating a concurrent move (the reconciler may have acted first).
fn advance(
    c: &mut store::DbConn,
    a: &Appliance,
    to: ApplianceState,
    reason: &str,
) -> Result<Option<Appliance>, StoreError> {
    match appliances::transition(c, a, to, reason) {
        Ok(moved) => Ok(Some(moved)),
        Err(StoreError::Stale | StoreError::IllegalTransition { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn subject(a: &Appliance) -> Subject {
    Subject {
        application: Some(a.application_id),
        appliance: Some(a.id),
        host: a.host_id,
    }
}

/// The agent of `a` speaks: move a creating or booting appliance through configuring to running
/// (recording `appliance.came_alive` and `appliance.configured`), or bring a lost one back.
/// A creating appliance can speak first when the record lags its domain (the orchestrator died between
/// starting the domain and recording it); a booting one can heartbeat first when its announcement was
/// lost.
fn came_alive(c: &mut store::DbConn, a: &Appliance, hostname: &str) -> Result<(), StoreError> {
    let mut a = a.clone();
    if a.state == ApplianceState::Lost {
        if advance(c, &a, ApplianceState::Running, "agent is back")?.is_some() {
            events::record(
                c,
                a.tenant_id,
                "appliance.recovered",
                &subject(&a),
                "the agent speaks again",
            )?;
        }
        return Ok(());
    }
    if a.state == ApplianceState::Creating {
        match advance(
            c,
            &a,
            ApplianceState::Booting,
            "the agent spoke before the domain start was recorded",
        )? {
            Some(m) => a = m,
            None => return Ok(()),
        }
    }
    if a.state != ApplianceState::Booting {
        return Ok(());
    }
    if let Some(moved) = advance(c, &a, ApplianceState::Configuring, "agent announced itself")? {
        let detail = serde_json::json!({"ip": moved.ip, "hostname": hostname}).to_string();
        events::record(
            c,
            a.tenant_id,
            "appliance.came_alive",
            &subject(&moved),
            &detail,
        )?;
        // install CloudScripts run here once the events issue provides them
        if advance(c, &moved, ApplianceState::Running, "configured")?.is_some() {
            events::record(c, a.tenant_id, "appliance.configured", &subject(&moved), "")?;
        }
    }
    Ok(())
}

#[async_trait]
impl AgentEndpoint for AgentService {
    async fn announce(
        &self,
        token: &str,
        req: AnnounceRequest,
    ) -> Result<AnnounceResponse, AgentError> {
        let id = self.id(token)?;
        let a = self.load(id).await?;
        let ip = req.ip.clone();
        self.store
            .write(move |c| -> Result<(), AgentError> {
                let at = now();
                appliances::heartbeat(c, a.id, at, ip.as_deref())?;
                let mut a = a;
                a.ip = ip.or(a.ip);
                came_alive(c, &a, &req.hostname)?;
                applications::touch(c, a.application_id)?;
                Ok(())
            })
            .await?;
        Ok(AnnounceResponse {
            appliance_id: id,
            heartbeat_secs: self.heartbeat_secs,
            metrics_secs: self.metrics_secs,
        })
    }

    async fn heartbeat(&self, token: &str, _req: HeartbeatRequest) -> Result<(), AgentError> {
        let id = self.id(token)?;
        let a = self.load(id).await?;
        self.store
            .write(move |c| -> Result<(), AgentError> {
                appliances::heartbeat(c, a.id, now(), None)?;
                if matches!(
                    a.state,
                    ApplianceState::Lost | ApplianceState::Creating | ApplianceState::Booting
                ) {
                    came_alive(c, &a, &a.name)?;
                    applications::touch(c, a.application_id)?;
                }
                Ok(())
            })
            .await
    }

    async fn metrics(&self, token: &str, report: MetricsReport) -> Result<(), AgentError> {
        let id = self.id(token)?;
        let a = self.load(id).await?;
        self.store
            .write(move |c| -> Result<(), AgentError> {
                let at = now();
                metrics::put(c, a.tenant_id, a.id, at, &report)?;
                appliances::heartbeat(c, a.id, at, None)?;
                Ok(())
            })
            .await
    }

    async fn jobs(&self, token: &str) -> Result<JobsResponse, AgentError> {
        let id = self.id(token)?;
        self.load(id).await?;
        Ok(JobsResponse { jobs: Vec::new() })
    }
}
