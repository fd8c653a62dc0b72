//! The host monitor (a singleton across orchestrators, held by a lease): checks every host's liveness;
//! a host that misses checks becomes `suspect`, then `down`, and its appliances `lost` (ServiceEnsure
//! then replaces them). When a host answers again it is `up`; domains of appliances that were replaced
//! meanwhile are removed, and domains nobody knows are reported — never destroyed.

use crate::{Orchestrator, OrchestratorError};
use common::{ApplianceId, ApplianceState, HostState};
use futures_util::StreamExt;
use std::collections::HashSet;
use store::repo::events::Subject;
use store::repo::{appliances, applications, events, hosts, tenants};
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
            self.judge(host, ok).await?;
        }
        Ok(())
    }

    async fn judge(&self, host: Host, ok: bool) -> Result<(), OrchestratorError> {
        let down_after = self.config.host_down_after.max(1);
        let at = now();
        let mut h = host.clone();
        let mut event = None;
        let mut lost = false;
        let mut recovered = false;
        if ok {
            h.missed_checks = 0;
            if matches!(h.state, HostState::Suspect | HostState::Down) {
                recovered = h.state == HostState::Down;
                h.state = HostState::Up;
                event = Some("host.recovered");
            }
            let stale = h.last_seen_at.is_none_or(|t| (at - t).num_seconds() >= 30);
            if !stale && event.is_none() {
                return Ok(());
            }
            h.last_seen_at = Some(at);
        } else {
            if matches!(
                h.state,
                HostState::Maintenance | HostState::Fenced | HostState::Down
            ) {
                return Ok(());
            }
            h.missed_checks += 1;
            if h.missed_checks >= down_after {
                h.state = HostState::Down;
                event = Some("host.lost");
                lost = true;
            } else if h.state == HostState::Up {
                h.state = HostState::Suspect;
                event = Some("host.suspect");
            }
        }
        h.updated_at = at;
        let saved = h.clone();
        self.store
            .write(move |c| -> Result<(), StoreError> {
                hosts::save(c, &saved)?;
                let subject = Subject {
                    host: Some(saved.id),
                    ..Subject::default()
                };
                if let (Some(kind), Some(provider)) = (event, tenants::provider(c)?) {
                    events::record(
                        c,
                        provider.id,
                        kind,
                        &subject,
                        &format!("host {}", saved.name),
                    )?;
                }
                if lost {
                    let reason = format!("host {} lost", saved.name);
                    let mut touched = HashSet::new();
                    for a in appliances::on_host(c, saved.id)? {
                        if a.state == ApplianceState::Lost {
                            continue;
                        }
                        match appliances::transition(c, &a, ApplianceState::Lost, &reason) {
                            Ok(moved) => {
                                let s = Subject {
                                    application: Some(a.application_id),
                                    appliance: Some(a.id),
                                    host: Some(saved.id),
                                };
                                events::record(c, a.tenant_id, "host.lost", &s, &reason)?;
                                let _ = moved;
                                touched.insert(a.application_id);
                            }
                            Err(StoreError::Stale | StoreError::IllegalTransition { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    for app in touched {
                        applications::touch(c, app)?;
                    }
                }
                Ok(())
            })
            .await?;
        if let Some(kind) = event {
            tracing::warn!(host = %host.name, event = kind, "host state changed");
        }
        if recovered {
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
                Some(id) => self.store.read(move |c| appliances::get_any(c, id)).await?,
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

    /// Sweep every host that is up.
    pub async fn sweep_hosts(&self) -> Result<(), OrchestratorError> {
        for h in self.store.read(hosts::all).await? {
            if h.state == HostState::Up {
                self.sweep_host(&h).await?;
            }
        }
        Ok(())
    }
}
