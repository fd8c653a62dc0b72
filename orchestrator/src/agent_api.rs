//! The server side of the agent protocol: announce (the appliance came alive), heartbeat, metrics,
//! jobs, and the custom events scripts post. Served over HTTP at `/agent/v1` and called in-process by
//! simulated appliances.

use crate::agent_buffer::{AgentBuffer, steady};
use crate::tokens::TokenKey;
use async_trait::async_trait;
use common::agent::{
    AnnounceRequest, AnnounceResponse, EventRequest, EventResponse, HeartbeatRequest, Job,
    JobResult, JobsResponse, MetricsReport,
};
use common::{ApplianceId, ApplianceState, JobId};
use store::repo::events::Subject;
use store::repo::unscoped;
use store::repo::{appliances, events, metrics};
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
    /// What the agent sent is out of bounds.
    #[error("invalid agent report")]
    Invalid(#[from] validator::ValidationErrors),
    /// The appliance is not up (pending, booting, stopping, stopped, lost): it posts no events.
    #[error("this appliance is not up")]
    NotUp,
    /// The appliance calls faster than its agent ever should.
    #[error("too many agent calls; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
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
    /// How a job ended; `Ok(false)` when the appliance has no such job.
    async fn report(&self, token: &str, job: JobId, result: JobResult) -> Result<bool, AgentError>;
    /// A custom event a script posts: recorded as `custom.<name>` about the appliance.
    async fn event(&self, token: &str, req: EventRequest) -> Result<EventResponse, AgentError>;
}

/// The agent protocol over the store.
#[derive(Clone, Debug)]
pub struct AgentService {
    pub store: Store,
    pub key: TokenKey,
    pub heartbeat_secs: u32,
    pub metrics_secs: u32,
    /// Calls per appliance: a burst, refilled at a pace well above what a working agent needs.
    limiter: std::sync::Arc<governor::DefaultKeyedRateLimiter<ApplianceId>>,
    /// Custom events per appliance, apart from the calls above so that a script posting in a loop
    /// never starves its agent's heartbeats.
    event_limiter: std::sync::Arc<governor::DefaultKeyedRateLimiter<ApplianceId>>,
    /// Heartbeats and reports of steady appliances, written in batches (see `agent_buffer`).
    buffer: std::sync::Arc<AgentBuffer>,
    /// The flusher's liveness (readiness reads it).
    pub health: std::sync::Arc<crate::supervise::Health>,
}

/// A working agent calls about 1.5 times per heartbeat interval (a heartbeat, and metrics every
/// other interval); it may make this many calls in a burst (a restart announces, heartbeats and
/// reports at once), refilled at this many calls per heartbeat interval.
const AGENT_BURST: u32 = 30;
const AGENT_CALLS_PER_HEARTBEAT: u32 = 8;
/// Custom events: a burst of this many per appliance, then one every [`EVENT_PERIOD`] (10 a minute).
pub const EVENT_BURST: u32 = 10;
const EVENT_PERIOD: std::time::Duration = std::time::Duration::from_secs(6);

fn event_limiter() -> governor::DefaultKeyedRateLimiter<ApplianceId> {
    let quota = governor::Quota::with_period(EVENT_PERIOD)
        .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN))
        .allow_burst(std::num::NonZeroU32::new(EVENT_BURST).unwrap_or(std::num::NonZeroU32::MIN));
    governor::RateLimiter::keyed(quota)
}

/// A refusal of `limiter` as the error the agent reads (with the wait, rounded up to seconds).
fn limited(
    limiter: &governor::DefaultKeyedRateLimiter<ApplianceId>,
    id: &ApplianceId,
) -> Result<(), AgentError> {
    use governor::clock::{Clock, DefaultClock};
    limiter.check_key(id).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        AgentError::RateLimited {
            retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        }
    })
}

fn agent_limiter(heartbeat: std::time::Duration) -> governor::DefaultKeyedRateLimiter<ApplianceId> {
    let every = (heartbeat / AGENT_CALLS_PER_HEARTBEAT).max(std::time::Duration::from_millis(1));
    let quota = governor::Quota::with_period(every)
        .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN))
        .allow_burst(std::num::NonZeroU32::new(AGENT_BURST).unwrap_or(std::num::NonZeroU32::MIN));
    governor::RateLimiter::keyed(quota)
}

impl AgentService {
    /// The agent protocol of an installation: its token key (from the database) and the pace agents keep.
    pub async fn open(
        store: Store,
        config: &crate::OrchestratorConfig,
    ) -> Result<AgentService, StoreError> {
        let key = crate::token_key(&store).await?;
        // flushed twice per heartbeat interval (at most every second): well within the timeout
        let every = (config.heartbeat / 2).clamp(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_secs(1),
        );
        let buffer = std::sync::Arc::new(AgentBuffer::new(every * 5));
        // supervised like the orchestrator's loops: a panic is logged, the flusher restarted, and
        // readiness says so meanwhile (a replica that stops writing heartbeats must not look well)
        let health = std::sync::Arc::new(crate::supervise::Health::default());
        let (weak, st, h) = (
            std::sync::Arc::downgrade(&buffer),
            store.clone(),
            health.clone(),
        );
        tokio::spawn(async move {
            let never = tokio_util::sync::CancellationToken::new();
            crate::supervise::supervise(&h, "agent flusher", &never, || {
                crate::agent_buffer::run_flusher(weak.clone(), st.clone(), every, h.clone())
            })
            .await;
        });
        Ok(AgentService {
            store,
            key,
            heartbeat_secs: config.heartbeat_secs,
            metrics_secs: config.metrics_secs,
            limiter: std::sync::Arc::new(agent_limiter(config.heartbeat)),
            event_limiter: std::sync::Arc::new(event_limiter()),
            buffer,
            health,
        })
    }

    /// Whether the flusher is alive (`Err` says why not).
    pub fn ready(&self) -> Result<(), String> {
        self.health.ready(std::time::Duration::from_secs(30))
    }

    /// Write the buffered heartbeats and reports now (tests, shutdown).
    pub async fn flush(&self) -> Result<usize, StoreError> {
        self.buffer.flush(&self.store).await
    }

    /// The appliance's state as last known, refreshed from the database when unknown or stale; a
    /// terminated or failed appliance's agent is turned away.
    async fn state_of(&self, id: ApplianceId) -> Result<crate::agent_buffer::Known, AgentError> {
        let known = match self.buffer.known(id) {
            Some(k) => k,
            None => {
                let a = self
                    .store
                    .read(move |c| unscoped::appliances::get(c, id))
                    .await?
                    .ok_or(AgentError::InvalidToken)?;
                self.buffer.learn(id, a.tenant_id, a.state);
                self.buffer.known(id).ok_or(AgentError::InvalidToken)?
            }
        };
        if matches!(
            known.state,
            ApplianceState::Terminated | ApplianceState::Failed
        ) {
            return Err(AgentError::Revoked);
        }
        Ok(known)
    }

    /// The appliance of a genuine token, counted against its rate limit.
    fn id(&self, token: &str) -> Result<ApplianceId, AgentError> {
        let id = self.key.verify(token).ok_or(AgentError::InvalidToken)?;
        limited(&self.limiter, &id)?;
        Ok(id)
    }

    /// Forget appliances whose limits have recovered (bounds memory).
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.event_limiter.retain_recent();
    }

    async fn load(&self, id: ApplianceId) -> Result<Appliance, AgentError> {
        let a = self
            .store
            .read(move |c| unscoped::appliances::get(c, id))
            .await?
            .ok_or(AgentError::InvalidToken)?;
        self.buffer.learn(id, a.tenant_id, a.state);
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
/// Returns whether the appliance moved (its application then needs a look).
fn came_alive(c: &mut store::DbConn, a: &Appliance, hostname: &str) -> Result<bool, StoreError> {
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
            return Ok(true);
        }
        return Ok(false);
    }
    let mut moved_any = false;
    if a.state == ApplianceState::Creating {
        match advance(
            c,
            &a,
            ApplianceState::Booting,
            "the agent spoke before the domain start was recorded",
        )? {
            Some(m) => {
                a = m;
                moved_any = true;
            }
            None => return Ok(false),
        }
    }
    if a.state != ApplianceState::Booting {
        return Ok(moved_any);
    }
    if let Some(moved) = advance(c, &a, ApplianceState::Configuring, "agent announced itself")? {
        moved_any = true;
        let detail = serde_json::json!({"ip": moved.ip, "hostname": hostname}).to_string();
        events::record(
            c,
            a.tenant_id,
            "appliance.came_alive",
            &subject(&moved),
            &detail,
        )?;
        // the template's install scripts run now, one after another (none: running at once)
        crate::automation::jobs::install_progress(c, &moved)?;
    }
    Ok(moved_any)
}

#[async_trait]
impl AgentEndpoint for AgentService {
    async fn announce(
        &self,
        token: &str,
        req: AnnounceRequest,
    ) -> Result<AnnounceResponse, AgentError> {
        let id = self.id(token)?;
        validator::Validate::validate(&req)?;
        let a = self.load(id).await?;
        let ip = req.ip.clone();
        let now_state = self
            .store
            .write(move |c| -> Result<Option<Appliance>, AgentError> {
                let at = now();
                unscoped::appliances::heartbeat(c, a.id, at, ip.as_deref())?;
                // read back: the address stored is the agent's unless IPAM gave the appliance one
                let Some(a) = unscoped::appliances::get(c, a.id)? else {
                    return Ok(None);
                };
                // only a change of state makes the application due (a chatty agent costs nothing)
                if came_alive(c, &a, &req.hostname)? {
                    unscoped::applications::touch(c, a.application_id)?;
                }
                Ok(unscoped::appliances::get(c, a.id)?)
            })
            .await?;
        if let Some(a) = now_state {
            self.buffer.learn(a.id, a.tenant_id, a.state);
        }
        Ok(AnnounceResponse {
            appliance_id: id,
            heartbeat_secs: self.heartbeat_secs,
            metrics_secs: self.metrics_secs,
        })
    }

    async fn heartbeat(&self, token: &str, req: HeartbeatRequest) -> Result<(), AgentError> {
        let id = self.id(token)?;
        validator::Validate::validate(&req)?;
        // a steady appliance's heartbeat only moves its time: buffered, written with the next flush
        if steady(self.state_of(id).await?.state) {
            self.buffer.beat(id, now());
            return Ok(());
        }
        let a = self.load(id).await?;
        let moved = self
            .store
            .write(move |c| -> Result<Option<Appliance>, AgentError> {
                unscoped::appliances::heartbeat(c, a.id, now(), None)?;
                if matches!(
                    a.state,
                    ApplianceState::Lost | ApplianceState::Creating | ApplianceState::Booting
                ) && came_alive(c, &a, &a.name)?
                {
                    unscoped::applications::touch(c, a.application_id)?;
                }
                Ok(unscoped::appliances::get(c, a.id)?)
            })
            .await?;
        if let Some(a) = moved {
            self.buffer.learn(a.id, a.tenant_id, a.state);
        }
        Ok(())
    }

    async fn metrics(&self, token: &str, report: MetricsReport) -> Result<(), AgentError> {
        let id = self.id(token)?;
        validator::Validate::validate(&report)?;
        let known = self.state_of(id).await?;
        if steady(known.state) {
            self.buffer.report(id, known.tenant, now(), report);
            return Ok(());
        }
        let a = self.load(id).await?;
        self.store
            .write(move |c| -> Result<(), AgentError> {
                let at = now();
                metrics::put(c, a.tenant_id, a.id, at, &report)?;
                unscoped::appliances::heartbeat(c, a.id, at, None)?;
                Ok(())
            })
            .await
    }

    async fn jobs(&self, token: &str) -> Result<JobsResponse, AgentError> {
        let id = self.id(token)?;
        // work goes only to an appliance the database says is live, never on a cached word
        self.load(id).await?;
        let jobs = self
            .store
            .write(move |c| unscoped::automation::take_jobs(c, id, now()))
            .await?;
        Ok(JobsResponse {
            jobs: jobs
                .into_iter()
                .map(|j| Job {
                    id: j.id.to_string(),
                    script: j.body,
                    env: j.env,
                    timeout_secs: j.timeout_secs,
                })
                .collect(),
        })
    }

    async fn report(&self, token: &str, job: JobId, result: JobResult) -> Result<bool, AgentError> {
        let id = self.id(token)?;
        validator::Validate::validate(&result)?;
        let a = self.load(id).await?;
        let found = self
            .store
            .write(move |c| crate::automation::jobs::report(c, &a, job, &result))
            .await?;
        if let Some(a) = self
            .store
            .read(move |c| unscoped::appliances::get(c, id))
            .await?
        {
            self.buffer.learn(a.id, a.tenant_id, a.state);
        }
        Ok(found.is_some())
    }

    async fn event(&self, token: &str, req: EventRequest) -> Result<EventResponse, AgentError> {
        // counted against the events' own limit only (refused and invalid ones too), so a script
        // posting in a loop never spends the calls its agent's heartbeats need
        let id = self.key.verify(token).ok_or(AgentError::InvalidToken)?;
        limited(&self.event_limiter, &id)?;
        validator::Validate::validate(&req)?;
        let a = self.load(id).await?;
        // scripts run while it configures or runs; a token used otherwise posts nothing
        if !matches!(
            a.state,
            ApplianceState::Configuring | ApplianceState::Running
        ) {
            return Err(AgentError::NotUp);
        }
        let type_ = format!("custom.{}", req.name);
        let recorded = type_.clone();
        let e = self
            .store
            .write(move |c| events::record(c, a.tenant_id, &recorded, &subject(&a), &req.detail))
            .await?;
        Ok(EventResponse {
            event_id: e.id,
            type_,
        })
    }
}
