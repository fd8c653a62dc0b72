//! The reconcile loop.
//!
//! Guarantees: one reconcile per application at a time across every orchestrator sharing the database
//! (applications are claimed with a lease; on PostgreSQL with `FOR UPDATE SKIP LOCKED`); a change made
//! during a pass makes the application due again at once; a failed pass backs off exponentially (reset
//! on success); a crash at any point is repaired by the next pass (see `execute`).
//! Assumptions: the clocks of orchestrators agree within a fraction of the lease time.

use crate::plan::{self, DomainObs, GroupSpec, Observed};
use crate::{Orchestrator, OrchestratorError};
use chrono::Duration as ChronoDuration;
use common::{ApplianceState, ApplicationId, HostId};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use store::repo::hosts;
use store::repo::unscoped;
use store::repo::unscoped::applications::{Claim, Release};
use store::time::now;

/// A host's domains by name.
type Listing = HashMap<String, crate::drivers::DomainState>;

/// Hosts' domain listings fetched during one round (`None`: the host did not answer).
#[derive(Default)]
struct Listings(tokio::sync::Mutex<HashMap<HostId, Option<Arc<Listing>>>>);

/// A claim to give back: when the application is due next, and the error of a failed pass.
type Released = (Claim, Duration, Option<String>);

/// The claims of a round while its passes run: each in flight (with the token that stops its pass),
/// or finished and waiting to be given back.
struct InFlight {
    running: std::sync::Mutex<HashMap<ApplicationId, tokio_util::sync::CancellationToken>>,
    finished: std::sync::Mutex<Vec<Released>>,
}

impl InFlight {
    fn new(ids: impl Iterator<Item = ApplicationId>) -> Self {
        InFlight {
            running: std::sync::Mutex::new(
                ids.map(|id| (id, tokio_util::sync::CancellationToken::new()))
                    .collect(),
            ),
            finished: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn token(&self, id: ApplicationId) -> tokio_util::sync::CancellationToken {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    fn in_flight(&self) -> Vec<ApplicationId> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// A pass is done: its claim waits to be given back, and is no longer renewed.
    fn finish(&self, released: Released) {
        self.forget(released.0.id);
        self.finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(released);
    }

    /// Stop renewing a claim (its pass failed; its lease lapses and it comes due again).
    fn forget(&self, id: ApplicationId) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// The claim is lost: stop its pass.
    fn lose(&self, id: ApplicationId) {
        if let Some(t) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
        {
            t.cancel();
        }
    }

    fn take_finished(&self) -> Vec<Released> {
        std::mem::take(&mut *self.finished.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What the database says of one application: the input of a pass.
struct Snapshot {
    app: store::Application,
    groups: Vec<store::Group>,
    appliances: Vec<store::Appliance>,
}

/// The applications of `ids` with their groups and live appliances, and the hosts those appliances
/// are on: four queries for a whole round.
type Round = (
    HashMap<ApplicationId, Snapshot>,
    HashMap<HostId, store::Host>,
);

/// One application's input to a pass: its snapshot (`None`: it is gone), the hosts of its round, and
/// when they were read — ages are measured from then, so a pass that starts later than its load
/// never sees a heartbeat or a boot as older than the data says.
struct Loaded {
    snapshot: Option<Snapshot>,
    hosts: Arc<HashMap<HostId, store::Host>>,
    at: chrono::DateTime<chrono::Utc>,
}

fn load(c: &mut store::DbConn, ids: &[ApplicationId]) -> Result<Round, store::StoreError> {
    let mut snaps: HashMap<ApplicationId, Snapshot> = unscoped::applications::get_many(c, ids)?
        .into_iter()
        .map(|app| {
            let snap = Snapshot {
                app,
                groups: Vec::new(),
                appliances: Vec::new(),
            };
            (snap.app.id, snap)
        })
        .collect();
    for g in unscoped::applications::groups_of_many(c, ids)? {
        if let Some(s) = snaps.get_mut(&g.application_id) {
            s.groups.push(g);
        }
    }
    let mut host_ids = Vec::new();
    for a in unscoped::appliances::of_applications(c, ids)? {
        host_ids.extend(a.host_id);
        if let Some(s) = snaps.get_mut(&a.application_id) {
            s.appliances.push(a);
        }
    }
    host_ids.sort();
    host_ids.dedup();
    let hosts = hosts::get_many(c, &host_ids)?
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    Ok((snaps, hosts))
}

impl Orchestrator {
    /// One pass over one application: observe, plan, execute. Returns when it should run next.
    pub async fn reconcile(&self, id: ApplicationId) -> Result<Duration, OrchestratorError> {
        let mut one = self.load_many(vec![id]).await?;
        let Some((_, loaded)) = one.pop() else {
            return Ok(self.config.resync);
        };
        self.reconcile_loaded(loaded, &Listings::default()).await
    }

    /// Load the applications of `ids` (see [`load`]), each with the hosts of them all.
    async fn load_many(
        &self,
        ids: Vec<ApplicationId>,
    ) -> Result<Vec<(ApplicationId, Loaded)>, OrchestratorError> {
        let at = now();
        let wanted = ids.clone();
        let (mut snaps, hosts) = self.store.read(move |c| load(c, &wanted)).await?;
        let hosts = Arc::new(hosts);
        Ok(ids
            .into_iter()
            .map(|id| {
                let loaded = Loaded {
                    snapshot: snaps.remove(&id),
                    hosts: Arc::clone(&hosts),
                    at,
                };
                (id, loaded)
            })
            .collect())
    }

    /// One pass over a loaded application, sharing hosts' domain listings with the other applications
    /// of a round.
    async fn reconcile_loaded(
        &self,
        loaded: Loaded,
        listings: &Listings,
    ) -> Result<Duration, OrchestratorError> {
        let Loaded {
            snapshot,
            hosts: hosts_by_id,
            at,
        } = loaded;
        let Some(Snapshot {
            app,
            groups,
            appliances: apps,
        }) = snapshot
        else {
            return Ok(self.config.resync);
        };
        let id = app.id;

        // what the hypervisors say of the domains
        let mut listed: HashMap<HostId, Option<Arc<Listing>>> = HashMap::new();
        for a in apps.iter().filter(|a| a.state.holds_host()) {
            if let Some(host) = a.host_id.and_then(|h| hosts_by_id.get(&h))
                && !listed.contains_key(&host.id)
            {
                listed.insert(host.id, self.listing(host, listings).await);
            }
        }
        let age = |t: chrono::DateTime<chrono::Utc>| (at - t).to_std().unwrap_or_default();
        let observed: Vec<Observed> = apps
            .iter()
            .map(|a| {
                use crate::drivers::DomainState as D;
                let domain = match a.host_id.map(|h| listed.get(&h)) {
                    None => DomainObs::NoHost,
                    Some(None) | Some(Some(None)) => DomainObs::Unknown,
                    Some(Some(Some(map))) => match map.get(&a.domain_name()) {
                        None => DomainObs::Missing,
                        Some(D::Running | D::Paused | D::Other) => DomainObs::Running,
                        Some(D::ShutOff) => DomainObs::ShutOff,
                        Some(D::Crashed) => DomainObs::Crashed,
                    },
                };
                Observed {
                    id: a.id,
                    group: a.group_id,
                    state: a.state,
                    target: a.target,
                    state_age: age(a.state_since),
                    heartbeat_age: a.last_heartbeat_at.map(age),
                    domain,
                    placed: a.host_id.is_some(),
                }
            })
            .collect();
        let specs: Vec<GroupSpec> = groups
            .iter()
            .map(|g| GroupSpec {
                id: g.id,
                desired: g.size.desired,
                service_ensure: g.service_ensure,
            })
            .collect();
        let actions = plan::plan(app.deployed, &specs, &observed, &self.config.timeouts);
        let acted = !actions.is_empty();
        let mut first_error = None;
        // placements go last and together: terminations free capacity first, one view of usage
        // serves all; domains to start go together too (one read, one write for them all)
        let mut to_place = Vec::new();
        let mut to_boot = Vec::new();
        let mut others = Vec::new();
        for action in actions {
            match action {
                plan::Action::Place(a) => to_place.push(a),
                plan::Action::Boot(a) => to_boot.push(a),
                other => others.push(other),
            }
        }
        for action in others {
            tracing::debug!(application = %id, ?action, "execute");
            match self.execute(&app, action, &apps).await {
                Ok(()) => {}
                Err(OrchestratorError::Crashed) => return Err(OrchestratorError::Crashed),
                Err(e) => {
                    tracing::warn!(application = %id, error = %store::Chain(&e), "action failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        if !to_boot.is_empty() {
            let booted = match to_boot.iter().try_for_each(|_| self.step()) {
                Ok(()) => self.boot_many(to_boot).await,
                Err(e) => Err(e),
            };
            match booted {
                Ok(()) => {}
                Err(OrchestratorError::Crashed) => return Err(OrchestratorError::Crashed),
                Err(e) => {
                    tracing::warn!(application = %id, error = %store::Chain(&e), "starting domains failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        if !to_place.is_empty() {
            match self.place_many(&app, to_place).await {
                Ok(()) => {}
                Err(OrchestratorError::Crashed) => return Err(OrchestratorError::Crashed),
                Err(e) => {
                    tracing::warn!(application = %id, error = %store::Chain(&e), "placement failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let in_flight = apps.iter().any(|a| {
            !matches!(
                a.state,
                ApplianceState::Running
                    | ApplianceState::Stopped
                    | ApplianceState::Failed
                    | ApplianceState::Lost
            )
        });
        Ok(if acted {
            Duration::ZERO
        } else if in_flight {
            self.config.tick * 4
        } else {
            self.config.resync
        })
    }

    /// A host's domains, listed once per round.
    async fn listing(&self, host: &store::Host, listings: &Listings) -> Option<Arc<Listing>> {
        if let Some(l) = listings.0.lock().await.get(&host.id) {
            return l.clone();
        }
        let fetched = match self.drivers.for_uri(&host.uri) {
            Ok(d)
                if matches!(
                    host.state,
                    common::HostState::Up | common::HostState::Maintenance
                ) =>
            {
                match tokio::time::timeout(self.config.host_check_timeout, d.list(&host.uri)).await
                {
                    Ok(Ok(list)) => Some(Arc::new(
                        list.into_iter().map(|d| (d.name, d.state)).collect(),
                    )),
                    _ => None,
                }
            }
            _ => None,
        };
        listings.0.lock().await.insert(host.id, fetched.clone());
        fetched
    }

    /// Claim due applications and reconcile them (up to `concurrency` at once). Returns how many ran.
    pub async fn reconcile_due(&self) -> Result<usize, OrchestratorError> {
        let owner = self.config.owner.clone();
        let lease = self.config.lease;
        // rounds are tended (leases renewed, finished claims given back as they go), so a large one
        // holds nothing up, and each round's fixed cost (a claim, four reads, a release) is paid
        // once for many applications
        let limit = i64::try_from(self.config.concurrency * 64).unwrap_or(512);
        let claims = self
            .store
            .write(move |c| {
                let at = now();
                let until =
                    at + ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::seconds(30));
                unscoped::applications::claim_due(c, &owner, at, until, limit)
            })
            .await?;
        let n = claims.len();
        if n == 0 {
            return Ok(0);
        }
        // The whole round is read at once (four queries); a pass that starts later than that read
        // measures ages from it, and a `Fail` goes ahead only if the appliance is still as read.
        let work = self.load_claims(claims).await;
        let listings = Listings::default();
        // While the passes run, the claims still in flight have their leases renewed, the finished
        // ones are given back (so a slow pass holds up nothing else), and a claim whose lease was
        // lost has its pass stopped, so no application is worked twice.
        let round = InFlight::new(work.iter().map(|(c, _)| c.id));
        let (listings, round_ref) = (&listings, &round);
        let passes = futures_util::stream::iter(work)
            .map(|(claim, loaded)| {
                let token = round_ref.token(claim.id);
                async move {
                    let r = tokio::select! {
                        r = self.run_claim(claim, loaded, listings) => r,
                        _ = token.cancelled() => {
                            tracing::warn!(application = %claim.id, "lease lost during the pass; stopped");
                            return Ok(());
                        }
                    };
                    match r {
                        Ok(rel) => {
                            round_ref.finish(rel);
                            Ok(())
                        }
                        Err(OrchestratorError::Crashed) => Err(OrchestratorError::Crashed),
                        Err(e) => {
                            tracing::warn!(error = %store::Chain(&e), "reconcile");
                            round_ref.forget(claim.id);
                            Ok(())
                        }
                    }
                }
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect::<Vec<Result<(), OrchestratorError>>>();
        let results = tokio::select! {
            r = passes => r,
            never = self.tend(&round) => match never {},
        };
        if results
            .iter()
            .any(|r| matches!(r, Err(OrchestratorError::Crashed)))
        {
            return Err(OrchestratorError::Crashed);
        }
        // what finished since the last tick goes back in one statement
        self.release(round.take_finished()).await?;
        Ok(n)
    }

    /// Give claims back in one statement.
    async fn release(&self, released: Vec<Released>) -> Result<(), OrchestratorError> {
        if released.is_empty() {
            return Ok(());
        }
        let owner = self.config.owner.clone();
        self.store
            .write(move |c| {
                let at = now();
                let released: Vec<Release> = released
                    .into_iter()
                    .map(|(claim, next, error)| Release {
                        claim,
                        next: at + ChronoDuration::from_std(next).unwrap_or_default(),
                        error,
                    })
                    .collect();
                unscoped::applications::release_all(c, &owner, &released)
            })
            .await?;
        Ok(())
    }

    /// Tend a round every third of the lease time, for as long as it runs: give back the claims whose
    /// passes finished, renew the leases of those still in flight, stop the passes whose claim was
    /// lost — and all of them once no renewal succeeded for a whole lease time (the leases may have
    /// lapsed: another orchestrator may own the applications now).
    async fn tend(&self, round: &InFlight) -> std::convert::Infallible {
        let every = (self.config.lease / 3).max(Duration::from_millis(10));
        let mut renewed_at = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(every).await;
            self.health.beat("reconcile");
            if let Err(e) = self.release(round.take_finished()).await {
                tracing::warn!(error = %store::Chain(&e), "giving claims back failed; retried at the end of the round");
            }
            let ids = round.in_flight();
            let (owner, lease) = (self.config.owner.clone(), self.config.lease);
            let wanted = ids.clone();
            let renewed = self
                .store
                .write(move |c| {
                    let until = now() + ChronoDuration::from_std(lease).unwrap_or_default();
                    unscoped::applications::renew(c, &owner, &wanted, until)
                })
                .await;
            match renewed {
                Ok(held) => {
                    renewed_at = tokio::time::Instant::now();
                    let held: std::collections::HashSet<_> = held.into_iter().collect();
                    for id in ids.iter().filter(|id| !held.contains(id)) {
                        round.lose(*id);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %store::Chain(&e), "renewing leases failed");
                    if renewed_at.elapsed() >= lease {
                        tracing::warn!(
                            "no lease renewed for a whole lease time: every pass of the round stops"
                        );
                        for id in ids {
                            round.lose(id);
                        }
                    }
                }
            }
        }
    }

    /// Load the claimed applications; when the load fails, each claim carries the error (and backs off).
    async fn load_claims(&self, claims: Vec<Claim>) -> Vec<(Claim, Result<Loaded, String>)> {
        let ids = claims.iter().map(|c| c.id).collect();
        match self.load_many(ids).await {
            Ok(loaded) => claims
                .into_iter()
                .zip(loaded)
                .map(|(claim, (_, l))| (claim, Ok(l)))
                .collect(),
            Err(e) => {
                let e = store::error_chain(&e);
                tracing::warn!(error = %e, "loading a round failed");
                claims.into_iter().map(|c| (c, Err(e.clone()))).collect()
            }
        }
    }

    /// Reconcile one claimed application; says when it is due next and what failed.
    async fn run_claim(
        &self,
        claim: Claim,
        loaded: Result<Loaded, String>,
        listings: &Listings,
    ) -> Result<Released, OrchestratorError> {
        let (error, failures) = match loaded {
            Ok(loaded) => {
                // (only this claim's release changes the count, so the snapshot's is current)
                let failures = loaded.snapshot.as_ref().map(|s| s.app.failures);
                match self.reconcile_loaded(loaded, listings).await {
                    Ok(next) => return Ok((claim, next, None)),
                    Err(OrchestratorError::Crashed) => return Err(OrchestratorError::Crashed),
                    Err(e) => (store::error_chain(&e), failures),
                }
            }
            Err(e) => (e, None),
        };
        let failures = match failures {
            Some(n) => n,
            // the round's load failed: back off by the stored count if it can be read, else as far
            // as a database outage deserves
            None => match self
                .store
                .read(move |c| unscoped::applications::get(c, claim.id))
                .await
            {
                Ok(app) => app.map_or(0, |a| a.failures),
                Err(e) => {
                    tracing::warn!(error = %store::Chain(&e), "reading a failure count");
                    u32::MAX
                }
            },
        };
        Ok((claim, backoff(failures), Some(error)))
    }

    /// Make every deployed application due (start-up and the periodic resync safety net).
    pub async fn resync_all(&self) -> Result<(), OrchestratorError> {
        self.store
            .write(|c| -> Result<(), store::StoreError> {
                for id in unscoped::applications::all_deployed(c)? {
                    unscoped::applications::touch(c, id)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// Delay after `failures` consecutive failed passes: 1 s, 2 s, 4 s … at most 60 s.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let got: Vec<u64> = (0..9).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
