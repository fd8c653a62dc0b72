//! Write coalescing for the agent API. At the scale we claim (20,000 appliances heartbeating every 5 s
//! and reporting metrics every 10 s: 6,000 calls a second, each a write), writing every call is what
//! the database cannot do. So a heartbeat or a report of an appliance in a steady state (running,
//! configuring, stopping, stopped) is kept in memory — the latest per appliance — and written in
//! batches every flush interval (one statement per 500 appliances); what each flush reads back (the
//! appliances' states) tells the API which agents to turn away. Calls that change something (an
//! announcement, the first word of a booting or lost appliance) are written at once, as before.
//!
//! Guarantees: a heartbeat reaches the database within one flush interval of its arrival, with the time
//! it arrived, on whichever replica received it (so a silent agent is noticed, on every replica, as
//! soon as the heartbeat timeout after its last call has passed); a batch that fails to write is kept
//! for the next flush, never dropped; `last_heartbeat_at` never moves back.
//! Assumptions: the flush interval is well below the heartbeat timeout (it is half the heartbeat
//! interval, at most a second).

use chrono::{DateTime, Utc};
use common::agent::MetricsReport;
use common::{ApplianceId, ApplianceState, TenantId};
use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};
use store::repo::metrics as reports_store;
use store::repo::unscoped;
use store::{Store, StoreError};

/// What is known of an appliance an agent speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub tenant: TenantId,
    pub state: ApplianceState,
    seen: Instant,
}

/// A state in which an agent's heartbeat or report changes nothing but the time it was last heard.
pub fn steady(state: ApplianceState) -> bool {
    matches!(
        state,
        ApplianceState::Running
            | ApplianceState::Configuring
            | ApplianceState::Stopping
            | ApplianceState::Stopped
    )
}

#[derive(Default)]
struct Pending {
    beats: HashMap<ApplianceId, DateTime<Utc>>,
    reports: HashMap<ApplianceId, (TenantId, DateTime<Utc>, MetricsReport)>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.beats.is_empty() && self.reports.is_empty()
    }

    /// Fold `other` (older) into `self` (newer): the latest of each appliance wins.
    fn absorb_older(&mut self, other: Pending) {
        for (id, at) in other.beats {
            let e = self.beats.entry(id).or_insert(at);
            *e = (*e).max(at);
        }
        for (id, r) in other.reports {
            self.reports.entry(id).or_insert(r);
        }
    }
}

/// The buffer of one API process.
pub struct AgentBuffer {
    pending: Mutex<Pending>,
    known: Mutex<HashMap<ApplianceId, Known>>,
    /// How long what is known of an appliance is trusted without a flush refreshing it.
    ttl: Duration,
    /// One flush at a time: a flush that returns has written everything buffered before it was
    /// called, even what a concurrent flush had taken and was still writing.
    flushing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AgentBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentBuffer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl AgentBuffer {
    pub fn new(ttl: Duration) -> AgentBuffer {
        AgentBuffer {
            pending: Mutex::new(Pending::default()),
            known: Mutex::new(HashMap::new()),
            ttl,
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// What is known of `id`, if recent enough to act on.
    pub fn known(&self, id: ApplianceId) -> Option<Known> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .filter(|k| k.seen.elapsed() <= self.ttl)
            .copied()
    }

    /// Remember what the database says of `id`.
    pub fn learn(&self, id: ApplianceId, tenant: TenantId, state: ApplianceState) {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id,
            Known {
                tenant,
                state,
                seen: Instant::now(),
            },
        );
    }

    /// A heartbeat of `id` arrived at `at`.
    pub fn beat(&self, id: ApplianceId, at: DateTime<Utc>) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let e = p.beats.entry(id).or_insert(at);
        *e = (*e).max(at);
    }

    /// A metrics report of `id` arrived at `at` (it is a heartbeat too).
    pub fn report(
        &self,
        id: ApplianceId,
        tenant: TenantId,
        at: DateTime<Utc>,
        report: MetricsReport,
    ) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let e = p.beats.entry(id).or_insert(at);
        *e = (*e).max(at);
        p.reports.insert(id, (tenant, at, report));
    }

    /// Write what is pending in one transaction; refresh what is known of the appliances written.
    /// On failure the batch goes back into the buffer (behind anything newer). Flushes go one at a
    /// time, so when this returns, everything buffered before the call is written. Returns how many
    /// appliances were written.
    pub async fn flush(&self, store: &Store) -> Result<usize, StoreError> {
        let _turn = self.flushing.lock().await;
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if taken.is_empty() {
            return Ok(0);
        }
        let beats: Vec<(ApplianceId, DateTime<Utc>)> =
            taken.beats.iter().map(|(id, at)| (*id, *at)).collect();
        let reports: Vec<(TenantId, ApplianceId, DateTime<Utc>, MetricsReport)> = taken
            .reports
            .iter()
            .map(|(id, (t, at, r))| (*t, *id, *at, r.clone()))
            .collect();
        let n = beats.len();
        let written = store
            .write(move |c| -> Result<_, StoreError> {
                let states = unscoped::appliances::heartbeats(c, &beats)?;
                reports_store::put_many(c, &reports)?;
                Ok(states)
            })
            .await;
        match written {
            Ok(states) => {
                let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                for (id, state) in states {
                    if let Some(k) = known.get_mut(&id) {
                        k.state = state;
                        k.seen = now;
                    }
                }
                // forget appliances not heard of for long (terminated ones, mostly)
                let ttl = self.ttl;
                known.retain(|_, k| k.seen.elapsed() <= ttl * 10);
                metrics::gauge!("scaleinfra_agent_flush_appliances").set(n as f64);
                Ok(n)
            }
            Err(e) => {
                let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                p.absorb_older(taken);
                Err(e)
            }
        }
    }
}

/// Flush `buffer` every `every` until it is gone (its service dropped), beating `health` as it goes.
pub async fn run_flusher(
    buffer: Weak<AgentBuffer>,
    store: Store,
    every: Duration,
    health: std::sync::Arc<crate::supervise::Health>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(b) = buffer.upgrade() else { return };
        health.beat("agent flusher");
        if let Err(e) = b.flush(&store).await {
            tracing::warn!(error = %store::Chain(&e), "writing agent heartbeats failed; kept for the next flush");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_of_each_appliance_wins_and_a_failed_batch_is_kept() {
        let b = AgentBuffer::new(Duration::from_secs(5));
        let (x, t) = (ApplianceId::new(), TenantId::new());
        let t0 = Utc::now();
        b.beat(x, t0 + chrono::Duration::seconds(2));
        b.beat(x, t0);
        b.report(
            x,
            t,
            t0 + chrono::Duration::seconds(1),
            MetricsReport::default(),
        );
        {
            let p = b.pending.lock().unwrap_or_else(|p| p.into_inner());
            assert_eq!(p.beats[&x], t0 + chrono::Duration::seconds(2));
            assert_eq!(p.reports.len(), 1);
        }
        // a batch taken out and failed goes back behind what arrived meanwhile
        let taken = std::mem::take(&mut *b.pending.lock().unwrap_or_else(|p| p.into_inner()));
        b.beat(x, t0 + chrono::Duration::seconds(9));
        b.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .absorb_older(taken);
        let p = b.pending.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(p.beats[&x], t0 + chrono::Duration::seconds(9));
        assert_eq!(p.reports.len(), 1, "the report survived the failed flush");
    }

    #[test]
    fn what_is_known_expires() {
        let b = AgentBuffer::new(Duration::from_secs(5));
        let x = ApplianceId::new();
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(6))
            .unwrap_or_else(Instant::now);
        b.known.lock().unwrap_or_else(|p| p.into_inner()).insert(
            x,
            Known {
                tenant: TenantId::new(),
                state: ApplianceState::Running,
                seen: long_ago,
            },
        );
        assert!(b.known(x).is_none());
        let b = AgentBuffer::new(Duration::from_secs(60));
        b.learn(x, TenantId::new(), ApplianceState::Running);
        assert_eq!(b.known(x).map(|k| k.state), Some(ApplianceState::Running));
        assert!(steady(ApplianceState::Running) && !steady(ApplianceState::Booting));
    }
}
