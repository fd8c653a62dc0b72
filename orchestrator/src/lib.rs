//! ScaleInfra's orchestrator: hypervisor drivers (libvirt and a simulated pool), placement, the
//! reconcile loop that turns applications' desired state into appliances, the host monitor, and the
//! server side of the appliance agent protocol.

pub mod agent_api;
pub mod agent_buffer;
pub mod automation;
pub mod catalog;
pub mod drivers;
pub mod error;
mod execute;
pub mod monitor;
pub mod placement;
pub mod plan;
pub mod quota;
pub mod reconcile;
pub mod supervise;
pub mod tokens;

pub use error::OrchestratorError;

use crate::agent_api::AgentService;
use crate::drivers::Drivers;
use crate::plan::Timeouts;
use crate::tokens::TokenKey;
use chrono::Duration as ChronoDuration;
use common::HostId;
use std::collections::HashSet;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::Store;
use store::repo::leases;
use store::time::now;
use tokio_util::sync::CancellationToken;

/// How the orchestrator paces itself.
#[derive(Clone, Debug)]
pub struct OrchestratorConfig {
    /// Unique per process: the owner name of leases.
    pub owner: String,
    /// How often due applications are looked for.
    pub tick: Duration,
    /// How long a claimed application stays leased (a crashed orchestrator's work is taken over after).
    pub lease: Duration,
    /// How often a quiet application is looked at anyway.
    pub resync: Duration,
    /// Applications reconciled at once.
    pub concurrency: usize,
    pub timeouts: Timeouts,
    pub host_check: Duration,
    pub host_check_timeout: Duration,
    /// Missed checks after which a host is down.
    pub host_down_after: u32,
    /// Where guests reach the agent API.
    pub agent_url: String,
    pub heartbeat_secs: u32,
    pub metrics_secs: u32,
    /// How often agents heartbeat (their calls are rate-limited at a multiple of this pace).
    pub heartbeat: Duration,
    /// Tests: stop dead (as if killed) after this many actions.
    pub crash_after: Option<u32>,
    /// How often the automation engine looks for events, runs and jobs.
    pub automation_tick: Duration,
    /// Rule webhooks may reach internal addresses.
    pub webhook_allow_internal: bool,
    /// Days ended runs, their jobs and dispatched events are kept (0: forever).
    pub automation_retention_days: u32,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        OrchestratorConfig {
            owner: format!("orchestrator-{}", uuid::Uuid::new_v4()),
            tick: Duration::from_millis(250),
            lease: Duration::from_secs(30),
            resync: Duration::from_secs(15),
            concurrency: 8,
            timeouts: Timeouts::default(),
            host_check: Duration::from_secs(5),
            host_check_timeout: Duration::from_secs(5),
            host_down_after: 3,
            agent_url: "http://10.0.2.100:8080".into(),
            heartbeat_secs: 5,
            metrics_secs: 10,
            heartbeat: Duration::from_secs(5),
            crash_after: None,
            automation_tick: Duration::from_millis(200),
            webhook_allow_internal: false,
            automation_retention_days: 30,
        }
    }
}

pub struct Orchestrator {
    pub store: Store,
    pub drivers: Drivers,
    pub config: OrchestratorConfig,
    pub key: TokenKey,
    agent: Arc<AgentService>,
    crash_after: Option<Arc<AtomicU32>>,
    /// Unknown domains already reported (host, name).
    reported: Mutex<HashSet<(HostId, String)>>,
    /// Orphaned appliances already reported.
    orphans: Mutex<HashSet<common::ApplianceId>>,
    /// The background loops' liveness (readiness reads it).
    pub health: Arc<supervise::Health>,
    /// Placements of concurrent passes, batched.
    placer: execute::Placer,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("owner", &self.config.owner)
            .finish_non_exhaustive()
    }
}

const TOKEN_KEY_SETTING: &str = "agent_token_key";

impl Orchestrator {
    /// Build an orchestrator; attaches the simulated pool's agents to the agent protocol.
    pub async fn new(
        store: Store,
        drivers: Drivers,
        config: OrchestratorConfig,
    ) -> Result<Arc<Orchestrator>, OrchestratorError> {
        let agent = Arc::new(AgentService::open(store.clone(), &config).await?);
        let key = agent.key.clone();
        if let Some(sim) = &drivers.sim {
            sim.attach(agent.clone());
        }
        let crash_after = config.crash_after.map(|n| Arc::new(AtomicU32::new(n)));
        Ok(Arc::new(Orchestrator {
            store,
            drivers,
            config,
            key,
            agent,
            crash_after,
            reported: Mutex::new(HashSet::new()),
            orphans: Mutex::new(HashSet::new()),
            health: Arc::new(supervise::Health::default()),
            placer: execute::Placer::default(),
        }))
    }

    /// The agent protocol service (the HTTP agent API serves it).
    pub fn agent(&self) -> Arc<AgentService> {
        self.agent.clone()
    }

    /// Run the reconcile loop and (while holding its lease) the host monitor until `shutdown`, each
    /// supervised (see [`supervise`]): a panic is logged and the loop restarted; readiness reports it.
    /// Returns `Err(Crashed)` when an injected crash fired.
    pub async fn run(
        self: Arc<Self>,
        shutdown: CancellationToken,
    ) -> Result<(), OrchestratorError> {
        if let Err(e) = self.resync_all().await {
            tracing::warn!(error = %store::Chain(&e), "initial resync failed");
        }
        let monitor = {
            let (this, stop) = (self.clone(), shutdown.clone());
            tokio::spawn(async move {
                supervise::supervise(&this.health.clone(), "monitor", &stop, || {
                    this.clone().run_monitor(stop.clone())
                })
                .await
            })
        };
        let automation = {
            let (this, stop) = (self.clone(), shutdown.clone());
            tokio::spawn(async move {
                supervise::supervise(&this.health.clone(), "automation", &stop, || {
                    this.clone().run_automation(stop.clone())
                })
                .await
            })
        };
        let this = self.clone();
        let stop = shutdown.clone();
        let result =
            supervise::supervise(&self.health.clone(), "reconcile", &shutdown, move || {
                this.clone().run_reconcile(stop.clone())
            })
            .await
            .unwrap_or(Ok(()));
        if result.is_err() {
            // an injected crash: the process "dies", the monitor and the engine with it
            monitor.abort();
            automation.abort();
        } else {
            shutdown.cancel();
            let _ = monitor.await;
            let _ = automation.await;
            for lease in [monitor::LEASE, automation::engine::LEASE] {
                let owner = self.config.owner.clone();
                if let Err(e) = self
                    .store
                    .write(move |c| leases::release(c, lease, &owner))
                    .await
                {
                    tracing::warn!(error = %store::Chain(&e), lease, "releasing a lease");
                }
            }
        }
        result
    }

    /// The reconcile loop: claim due applications, reconcile them, give them back; a failed round
    /// backs off (a database outage is not "nothing to do").
    async fn run_reconcile(
        self: Arc<Self>,
        shutdown: CancellationToken,
    ) -> Result<(), OrchestratorError> {
        let mut last_resync = tokio::time::Instant::now();
        let mut failed_rounds = 0u32;
        loop {
            self.health.beat("reconcile");
            let pause = match self.reconcile_due().await {
                Ok(n) => {
                    failed_rounds = 0;
                    if n > 0 {
                        Duration::ZERO
                    } else {
                        self.config.tick
                    }
                }
                Err(OrchestratorError::Crashed) => return Err(OrchestratorError::Crashed),
                Err(e) => {
                    failed_rounds += 1;
                    let pause =
                        reconcile::backoff(failed_rounds.saturating_sub(1)).min(self.config.lease);
                    tracing::warn!(error = %store::Chain(&e), ?pause, "a reconcile round failed");
                    pause
                }
            };
            if last_resync.elapsed() >= self.config.resync * 4 {
                last_resync = tokio::time::Instant::now();
                if let Err(e) = self.resync_all().await {
                    tracing::warn!(error = %store::Chain(&e), "resync failed");
                }
            }
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// The host monitor: while this orchestrator holds the monitor's lease (renewed as the checks
    /// run, and given up at once if it is lost), check every host each interval.
    async fn run_monitor(self: Arc<Self>, shutdown: CancellationToken) {
        let mut checks: u64 = 0;
        loop {
            self.health.beat("monitor");
            match self.hold_monitor_lease().await {
                Ok(true) => {
                    let round = async {
                        if let Err(e) = self.check_hosts().await {
                            tracing::warn!(error = %store::Chain(&e), "host check");
                        }
                        checks += 1;
                        if checks % 12 == 1
                            && let Err(e) = self.sweep_hosts().await
                        {
                            tracing::warn!(error = %store::Chain(&e), "host sweep");
                        }
                    };
                    tokio::select! {
                        _ = round => {}
                        _ = self.keep_monitor_lease() => {
                            tracing::warn!("the host monitor's lease was lost during a round; stopped it");
                        }
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %store::Chain(&e), "taking the host monitor's lease")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.config.host_check) => {}
            }
        }
    }

    /// The automation engine: while this orchestrator holds the engine's lease, go round (see
    /// [`automation::engine`]); at once again when a round found work, else after the tick.
    async fn run_automation(self: Arc<Self>, shutdown: CancellationToken) {
        let engine =
            automation::engine::Engine::new(self.store.clone(), self.config.webhook_allow_internal)
                .keep_days(self.config.automation_retention_days);
        // long enough for a round with slow webhooks (each has 15 s at most) between renewals
        let lease = (self.config.automation_tick * 10).max(Duration::from_secs(45));
        let mut held_until = tokio::time::Instant::now();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            self.health.beat("automation");
            let mut pause = self.config.automation_tick;
            let renew = tokio::time::Instant::now() + lease / 3 >= held_until;
            let held = if renew {
                let owner = self.config.owner.clone();
                let taken = self
                    .store
                    .write(move |c| {
                        let at = now();
                        leases::acquire(
                            c,
                            automation::engine::LEASE,
                            &owner,
                            at,
                            at + ChronoDuration::from_std(lease).unwrap_or_default(),
                        )
                    })
                    .await;
                match taken {
                    Ok(true) => {
                        held_until = tokio::time::Instant::now() + lease;
                        true
                    }
                    Ok(false) => false,
                    Err(e) => {
                        tracing::warn!(error = %store::Chain(&e), "taking the automation lease");
                        false
                    }
                }
            } else {
                true
            };
            if held {
                match engine.round().await {
                    Ok(true) => pause = Duration::ZERO,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %store::Chain(&e), "an automation round failed")
                    }
                }
            }
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn monitor_lease(&self) -> Duration {
        self.config.host_check * 4
    }

    /// Take or renew the monitor's lease.
    async fn hold_monitor_lease(&self) -> Result<bool, store::StoreError> {
        let (owner, lease) = (self.config.owner.clone(), self.monitor_lease());
        self.store
            .write(move |c| {
                let at = now();
                leases::acquire(
                    c,
                    monitor::LEASE,
                    &owner,
                    at,
                    at + ChronoDuration::from_std(lease).unwrap_or_default(),
                )
            })
            .await
    }

    /// Renew the monitor's lease every third of its time; returns when it is lost.
    async fn keep_monitor_lease(&self) {
        loop {
            tokio::time::sleep(self.monitor_lease() / 3).await;
            match self.hold_monitor_lease().await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %store::Chain(&e), "renewing the host monitor's lease")
                }
            }
        }
    }

    /// Whether the background loops are well (`Err` names the ones that are not).
    pub fn ready(&self) -> Result<(), String> {
        let stale = (self.config.lease * 4).max(self.config.host_check * 8);
        self.health.ready(stale)
    }
}

/// The installation's agent-token key, generated once and kept in the database.
pub async fn token_key(store: &Store) -> Result<TokenKey, store::StoreError> {
    let mut bytes = [0u8; 32];
    for b in bytes.iter_mut() {
        *b = rand::random();
    }
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let stored = store
        .write(move |c| store::repo::settings::get_or_insert(c, TOKEN_KEY_SETTING, &fresh))
        .await?;
    Ok(TokenKey::new(stored.as_bytes()))
}

pub use drivers::sim::{Faults, SimCloud, SimConfig};
