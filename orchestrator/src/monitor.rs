//! The host monitor (a singleton across orchestrators, held by a lease): checks every host's liveness;
//! a host that misses checks becomes `suspect`, then `down`, and its appliances `lost` (ServiceEnsure
//! then replaces them). When a host answers again it is `up`; domains of appliances that were replaced
//! meanwhile are removed, and domains nobody knows are reported — never destroyed.

use crate::{Orchestrator, OrchestratorError};
use chrono::{DateTime, Utc};
use common::{ApplianceId, ApplianceState, HostId, HostState};
use futures_util::StreamExt;
use std::collections::HashSet;
use store::repo::events::Subject;
use store::repo::unscoped;
use store::repo::{appliances, events, hosts, locks, tenants};
use store::time::now;
use store::{Host, StoreError};

pub const LEASE: &str = "host-monitor";

impl Orchestrator {
    /// Check every host once.
    pub async fn check_hosts(&self) -> Result<(), OrchestratorError> {
        let all = self.store.read(hosts::all).await?;
        let results: Vec<(Host, bool)> = futures_util::stream::iter(all)
            .map(|h| async move {
                let ok = match self.drivers.for_uri(&h.uri) {
                    Ok(d) => matches!(
                        tokio::time::timeout(self.config.host_check_timeout, d.host_info(&h.uri))
                            .await,
                        Ok(Ok(_))
                    ),
                    Err(_) => false,
                };
                (h, ok)
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for (host, ok) in results {
            self.judge(host.id, ok).await?;
        }
        Ok(())
    }

    /// Record one check of a host. The row is read again under its lock inside the write, so a state
    /// an operator set after the check began (maintenance, fenced) is what the verdict starts from —
    /// never a snapshot of the round's start.
    pub async fn judge(&self, host: HostId, ok: bool) -> Result<(), OrchestratorError> {
        let down_after = self.config.host_down_after.max(1);
        let outcome = self
            .store
            .write(move |c| -> Result<Option<(Host, Verdict)>, StoreError> {
                locks::lock(c, locks::Table::Hosts, &host.to_string())?;
                let Some(current) = hosts::get(c, host)? else {
                    return Ok(None);
                };
                let at = now();
                let Some(v) = verdict(&current, ok, at, down_after) else {
                    return Ok(None);
                };
                hosts::record_check(c, host, v.state, v.missed, v.seen.then_some(at), at)?;
                let subject = Subject {
                    host: Some(host),
                    ..Subject::default()
                };
                if let (Some(kind), Some(provider)) = (v.event, tenants::provider(c)?) {
                    events::record(
                        c,
                        provider.id,
                        kind,
                        &subject,
                        &format!("host {}", current.name),
                    )?;
                }
                if v.lost {
                    let reason = format!("host {} lost", current.name);
                    let mut touched = HashSet::new();
                    for a in unscoped::appliances::on_host(c, host)? {
                        if a.state == ApplianceState::Lost {
                            continue;
                        }
                        match appliances::transition(c, &a, ApplianceState::Lost, &reason) {
                            Ok(_) => {
                                let s = Subject {
                                    application: Some(a.application_id),
                                    appliance: Some(a.id),
                                    host: Some(host),
                                };
                                events::record(c, a.tenant_id, "host.lost", &s, &reason)?;
                                touched.insert(a.application_id);
                            }
                            Err(StoreError::Stale | StoreError::IllegalTransition { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    for app in touched {
                        unscoped::applications::touch(c, app)?;
                    }
                }
                let mut after = current;
                after.state = v.state;
                after.missed_checks = v.missed;
                Ok(Some((after, v)))
            })
            .await?;
        let Some((h, v)) = outcome else { return Ok(()) };
        if let Some(kind) = v.event {
            tracing::warn!(host = %h.name, event = kind, "host state changed");
        }
        if v.recovered {
            self.sweep_host(&h).await?;
        }
        Ok(())
    }

    /// Compare a host's domains with the appliances placed on it: remove domains of appliances that are
    /// gone (terminated, failed, or replaced while the host was down); report unknown domains once.
    pub async fn sweep_host(&self, host: &Host) -> Result<(), OrchestratorError> {
        let driver = self.drivers.for_uri(&host.uri)?;
        let Ok(domains) = driver.list(&host.uri).await else {
            return Ok(());
        };
        for d in domains {
            let id = d
                .name
                .strip_prefix("si-")
                .and_then(|s| s.parse::<ApplianceId>().ok());
            let appliance = match id {
                Some(id) => {
                    self.store
                        .read(move |c| unscoped::appliances::get(c, id))
                        .await?
                }
                None => None,
            };
            match appliance {
                Some(a) if a.host_id == Some(host.id) && a.state.holds_host() => {}
                Some(a) if a.host_id == Some(host.id) && a.state == ApplianceState::Lost => {
                    // its agent will bring it back (ServiceEnsure off) or the reconciler terminates it
                }
                Some(a) => {
                    driver.destroy(&host.uri, &d.name).await?;
                    driver.undefine(&host.uri, &d.name).await?;
                    let (tenant, subject) = (
                        a.tenant_id,
                        Subject {
                            application: Some(a.application_id),
                            appliance: Some(a.id),
                            host: Some(host.id),
                        },
                    );
                    let detail = format!(
                        "removed the leftover domain {} from host {} ({})",
                        d.name, host.name, a.state
                    );
                    self.store
                        .write(move |c| {
                            events::record(
                                c,
                                tenant,
                                "orchestrator.stale_domain_removed",
                                &subject,
                                &detail,
                            )
                        })
                        .await?;
                }
                None => {
                    let key = (host.id, d.name.clone());
                    if self
                        .reported
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key)
                    {
                        tracing::warn!(host = %host.name, domain = %d.name, "unknown domain on host (left alone)");
                        let (hid, name, hname) = (host.id, d.name.clone(), host.name.clone());
                        self.store
                            .write(move |c| -> Result<(), StoreError> {
                                if let Some(p) = tenants::provider(c)? {
                                    let subject = Subject { host: Some(hid), ..Subject::default() };
                                    events::record(c, p.id, "orchestrator.unknown_domain", &subject, &format!("domain {name} on host {hname} belongs to no appliance; left alone"))?;
                                }
                                Ok(())
                            })
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Sweep every host that is up, then look for orphaned appliances.
    pub async fn sweep_hosts(&self) -> Result<(), OrchestratorError> {
        for h in self.store.read(hosts::all).await? {
            if h.state == HostState::Up {
                self.sweep_host(&h).await?;
            }
        }
        self.sweep_orphans().await?;
        Ok(())
    }

    /// Report appliances that are not terminated but whose application is gone — unreachable by
    /// their tenant and unseen by reconcile (the database refuses new ones; an older version may
    /// have left some): one `orchestrator.orphan_appliance` event for the provider per appliance,
    /// and the gauge `scaleinfra_orphan_appliances`. Returns how many there are.
    pub async fn sweep_orphans(&self) -> Result<usize, OrchestratorError> {
        let found = self
            .store
            .read(|c| unscoped::appliances::orphans(c, 1000))
            .await?;
        metrics::gauge!("scaleinfra_orphan_appliances").set(found.len() as f64);
        let new: Vec<_> = {
            let mut seen = self.orphans.lock().unwrap_or_else(|p| p.into_inner());
            found
                .iter()
                .filter(|a| seen.insert(a.id))
                .cloned()
                .collect()
        };
        for a in &new {
            tracing::error!(appliance = %a.id, application = %a.application_id, state = %a.state,
                "an appliance's application is gone: it runs unseen by reconcile");
        }
        if !new.is_empty() {
            self.store
                .write(move |c| -> Result<(), StoreError> {
                    let Some(p) = tenants::provider(c)? else {
                        return Ok(());
                    };
                    for a in &new {
                        let subject = Subject {
                            application: Some(a.application_id),
                            appliance: Some(a.id),
                            host: a.host_id,
                        };
                        let detail = format!(
                            "appliance {} ({}) of tenant {} is {} but its application {} is gone",
                            a.name, a.id, a.tenant_id, a.state, a.application_id
                        );
                        events::record(
                            c,
                            p.id,
                            "orchestrator.orphan_appliance",
                            &subject,
                            &detail,
                        )?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(found.len())
    }
}

/// What one check means for a host, decided from its current row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub state: HostState,
    pub missed: u32,
    /// Record `last_seen_at` = now.
    pub seen: bool,
    pub event: Option<&'static str>,
    /// The host is given up: its appliances are lost.
    pub lost: bool,
    /// The host came back from `down`: sweep its leftover domains.
    pub recovered: bool,
}

/// The verdict of one check (`ok`: the host answered) on a host as it is now; `None` when nothing is
/// to be written. Pure. States an operator set are kept: a host in maintenance or fenced is never
/// moved by a check, only its liveness is recorded.
pub fn verdict(host: &Host, ok: bool, at: DateTime<Utc>, down_after: u32) -> Option<Verdict> {
    let mut v = Verdict {
        state: host.state,
        missed: host.missed_checks,
        seen: false,
        event: None,
        lost: false,
        recovered: false,
    };
    if ok {
        v.missed = 0;
        if matches!(host.state, HostState::Suspect | HostState::Down) {
            v.recovered = host.state == HostState::Down;
            v.state = HostState::Up;
            v.event = Some("host.recovered");
        }
        let stale = host
            .last_seen_at
            .is_none_or(|t| (at - t).num_seconds() >= 30);
        if !stale && v.event.is_none() && host.missed_checks == 0 {
            return None;
        }
        v.seen = true;
        return Some(v);
    }
    if matches!(
        host.state,
        HostState::Maintenance | HostState::Fenced | HostState::Down
    ) {
        return None;
    }
    v.missed = host.missed_checks + 1;
    if v.missed >= down_after {
        v.state = HostState::Down;
        v.event = Some("host.lost");
        v.lost = true;
    } else if host.state == HostState::Up {
        v.state = HostState::Suspect;
        v.event = Some("host.suspect");
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(state: HostState, missed: u32, seen_secs_ago: Option<i64>, at: DateTime<Utc>) -> Host {
        Host {
            id: HostId::new(),
            pool_id: common::PoolId::new(),
            name: "h".into(),
            uri: "sim://h".into(),
            capacity: common::api::Capacity {
                vcpus: 1,
                memory_mib: 1024,
                disk_gib: 1,
            },
            labels: Default::default(),
            state,
            missed_checks: missed,
            last_seen_at: seen_secs_ago.map(|s| at - chrono::Duration::seconds(s)),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn verdicts_start_from_the_current_row() {
        use HostState::*;
        let at = now();
        // (state, missed, seen ago, answered) -> (state, missed, event, lost, recovered) or no write
        type Row = (
            HostState,
            u32,
            Option<i64>,
            bool,
            Option<(HostState, u32, Option<&'static str>, bool, bool)>,
        );
        let table: Vec<Row> = vec![
            (Up, 0, Some(1), true, None),
            (Up, 0, Some(40), true, Some((Up, 0, None, false, false))),
            (Up, 0, None, true, Some((Up, 0, None, false, false))),
            (
                Up,
                0,
                Some(1),
                false,
                Some((Suspect, 1, Some("host.suspect"), false, false)),
            ),
            (
                Suspect,
                1,
                Some(1),
                false,
                Some((Suspect, 2, None, false, false)),
            ),
            (
                Suspect,
                2,
                Some(1),
                false,
                Some((Down, 3, Some("host.lost"), true, false)),
            ),
            (
                Suspect,
                2,
                Some(1),
                true,
                Some((Up, 0, Some("host.recovered"), false, false)),
            ),
            (
                Down,
                3,
                Some(60),
                true,
                Some((Up, 0, Some("host.recovered"), false, true)),
            ),
            (Down, 3, Some(60), false, None),
            // an operator's state is never overturned by a check
            (Maintenance, 0, Some(1), false, None),
            (
                Maintenance,
                0,
                Some(40),
                true,
                Some((Maintenance, 0, None, false, false)),
            ),
            (Fenced, 0, Some(1), false, None),
            (
                Fenced,
                0,
                Some(40),
                true,
                Some((Fenced, 0, None, false, false)),
            ),
        ];
        for (state, missed, ago, ok, want) in table {
            let got = verdict(&host(state, missed, ago, at), ok, at, 3)
                .map(|v| (v.state, v.missed, v.event, v.lost, v.recovered));
            assert_eq!(got, want, "{state:?} missed {missed} ago {ago:?} ok {ok}");
        }
    }
}
