//! Carrying out planned actions. Every action is idempotent and safe to repeat after a crash at any
//! point: appliance rows exist before their domains (whose names derive from the row), so a restart
//! finds what a crashed run made; driver calls tolerate "already done".

use crate::drivers::{DomainSpec, DriverError, ImageRef};
use crate::placement::{self, Candidate, Need};
use crate::plan::Action;
use crate::{Orchestrator, OrchestratorError};
use common::api::ImageKind;
use common::{ApplianceId, ApplianceState, ApplicationId, GroupId, HostState, ImageId};
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use store::repo::events::Subject;
use store::repo::unscoped;
use store::repo::{appliances, applications, events, hosts, images, ipam, pools};
use store::time::now;
use store::{Appliance, Application, DbConn, Host, StoreError, Target};

fn subject(a: &Appliance) -> Subject {
    Subject {
        application: Some(a.application_id),
        appliance: Some(a.id),
        host: a.host_id,
    }
}

/// One pass's placements, waiting for the placer.
pub(crate) struct PlaceRequest {
    app_pool: Option<common::PoolId>,
    ids: Vec<ApplianceId>,
    reply: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// Placements queued by concurrent passes, and the turn to place them: the pass that gets the turn
/// places everything queued by then in one transaction, so when passes place at the same time the
/// hosts' usage is read once for all of them instead of once each.
#[derive(Default)]
pub(crate) struct Placer {
    queue: std::sync::Mutex<Vec<PlaceRequest>>,
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Orchestrator {
    /// `Err(Crashed)` once an injected crash happened (without counting a step).
    pub(crate) fn crashed(&self) -> Result<(), OrchestratorError> {
        match &self.crash_after {
            Some(left) if left.load(Ordering::SeqCst) == 0 => Err(OrchestratorError::Crashed),
            _ => Ok(()),
        }
    }

    /// Count a step toward an injected crash.
    pub(crate) fn step(&self) -> Result<(), OrchestratorError> {
        if let Some(left) = &self.crash_after
            && left.fetch_sub(1, Ordering::SeqCst) <= 1
        {
            left.store(0, Ordering::SeqCst);
            return Err(OrchestratorError::Crashed);
        }
        Ok(())
    }

    async fn appliance(&self, id: ApplianceId) -> Result<Option<Appliance>, OrchestratorError> {
        Ok(self
            .store
            .read(move |c| unscoped::appliances::get(c, id))
            .await?)
    }

    async fn host(&self, a: &Appliance) -> Result<Option<Host>, OrchestratorError> {
        let Some(h) = a.host_id else { return Ok(None) };
        Ok(self.store.read(move |c| hosts::get(c, h)).await?)
    }

    /// Move an appliance and record an event in one transaction. A concurrent move wins quietly.
    async fn move_to(
        &self,
        a: &Appliance,
        to: ApplianceState,
        reason: &str,
        event: Option<&'static str>,
    ) -> Result<Option<Appliance>, OrchestratorError> {
        let (a, reason) = (a.clone(), reason.to_owned());
        let moved = self
            .store
            .write(move |c| -> Result<Option<Appliance>, StoreError> {
                let moved = match appliances::transition(c, &a, to, &reason) {
                    Ok(m) => m,
                    Err(StoreError::Stale) => return Ok(None),
                    Err(e) => return Err(e),
                };
                if let Some(kind) = event {
                    events::record(c, a.tenant_id, kind, &subject(&moved), &reason)?;
                }
                Ok(Some(moved))
            })
            .await?;
        Ok(moved)
    }

    /// Power off and remove a domain; a host that does not answer is left for the host monitor.
    async fn remove_domain(&self, a: &Appliance) -> Result<(), OrchestratorError> {
        let Some(host) = self.host(a).await? else {
            return Ok(());
        };
        if matches!(host.state, HostState::Down | HostState::Fenced) {
            return Ok(());
        }
        let driver = self.drivers.for_uri(&host.uri)?;
        let name = a.domain_name();
        match driver
            .destroy(&host.uri, &name)
            .await
            .and(driver.undefine(&host.uri, &name).await)
        {
            Ok(()) | Err(DriverError::NoSuchDomain(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Carry out `action`, planned from `seen` (the appliances as the pass read them).
    pub(crate) async fn execute(
        &self,
        app: &Application,
        action: Action,
        seen: &[Appliance],
    ) -> Result<(), OrchestratorError> {
        self.step()?;
        match action {
            Action::Create { group, count } => self.create(app, group, count).await,
            Action::Place(id) => self.place(app, id).await,
            Action::Boot(id) => self.boot_many(vec![id]).await,
            Action::Fail(id, reason) => {
                let Some(a) = self.appliance(id).await? else {
                    return Ok(());
                };
                // a heartbeat or a transition since the pass read it makes the verdict stale: the
                // next pass (due at once, since this one acted) judges again
                let as_seen = seen.iter().find(|s| s.id == id).is_none_or(|s| {
                    s.state == a.state && s.last_heartbeat_at == a.last_heartbeat_at
                });
                if !as_seen {
                    tracing::debug!(appliance = %id, "changed since the pass read it; not failed");
                    return Ok(());
                }
                // a domain that may still run must go first, or its replacement would run beside it
                self.remove_domain(&a).await?;
                let kind = if a.state == ApplianceState::Running {
                    "appliance.went_down"
                } else {
                    "appliance.failed"
                };
                self.move_to(&a, ApplianceState::Failed, &reason, Some(kind))
                    .await?;
                Ok(())
            }
            Action::Terminate(id, reason) => {
                let Some(a) = self.appliance(id).await? else {
                    return Ok(());
                };
                if a.state.holds_host()
                    || a.state == ApplianceState::Lost
                    || a.state == ApplianceState::Failed
                {
                    self.remove_domain(&a).await?;
                }
                let moved = self
                    .move_to(
                        &a,
                        ApplianceState::Terminated,
                        &reason,
                        Some("appliance.terminated"),
                    )
                    .await?;
                // its address is no one's now: its application's guests stop reaching it
                if moved.is_some() && a.ip.is_some() {
                    self.sync_peers(vec![a.application_id]).await?;
                }
                Ok(())
            }
            Action::Stop(id) => {
                let Some(a) = self.appliance(id).await? else {
                    return Ok(());
                };
                let Some(moved) = self
                    .move_to(&a, ApplianceState::Stopping, "stop requested", None)
                    .await?
                else {
                    return Ok(());
                };
                if let Some(host) = self.host(&moved).await? {
                    self.drivers
                        .for_uri(&host.uri)?
                        .stop(&host.uri, &moved.domain_name())
                        .await?;
                }
                Ok(())
            }
            Action::Stopped(id, force) => {
                let Some(a) = self.appliance(id).await? else {
                    return Ok(());
                };
                if force && let Some(host) = self.host(&a).await? {
                    self.drivers
                        .for_uri(&host.uri)?
                        .destroy(&host.uri, &a.domain_name())
                        .await?;
                }
                let reason = if force {
                    "powered off: the guest did not stop in time"
                } else {
                    "stopped"
                };
                self.move_to(&a, ApplianceState::Stopped, reason, None)
                    .await?;
                Ok(())
            }
            Action::Start(id) | Action::Reboot(id) => {
                let Some(a) = self.appliance(id).await? else {
                    return Ok(());
                };
                let Some(host) = self.host(&a).await? else {
                    return Ok(());
                };
                let driver = self.drivers.for_uri(&host.uri)?;
                let reason = if a.state == ApplianceState::Stopped {
                    "start requested"
                } else {
                    "reboot requested"
                };
                // the spec first: a domain is destroyed only when another can take its place
                let spec = match self.spec(&a, &host).await {
                    Err(OrchestratorError::Driver(e @ DriverError::Refused { .. })) => {
                        return self.refused(&a, &host, &e).await;
                    }
                    other => other?,
                };
                let Some(moved) = self
                    .move_to(&a, ApplianceState::Booting, reason, None)
                    .await?
                else {
                    return Ok(());
                };
                if a.state == ApplianceState::Running {
                    driver.destroy(&host.uri, &moved.domain_name()).await?;
                }
                driver.create(&host.uri, &spec).await?;
                self.store
                    .write(move |c| unscoped::appliances::set_target(c, id, Target::Run))
                    .await?;
                Ok(())
            }
        }
    }

    async fn create(
        &self,
        app: &Application,
        group: GroupId,
        count: u32,
    ) -> Result<(), OrchestratorError> {
        let (tenant, app_id) = (app.tenant_id, app.id);
        self.store
            .write(move |c| -> Result<(), StoreError> {
                // appliances only for an application that is still there and still deployed (the
                // pass planned from an older read)
                store::repo::locks::lock(
                    c,
                    store::repo::locks::Table::Applications,
                    &app_id.to_string(),
                )?;
                match applications::get(c, tenant, app_id)? {
                    Some(a) if a.deployed => {}
                    _ => return Ok(()),
                }
                let Some(g) = applications::get_group(c, tenant, group)? else {
                    return Ok(());
                };
                let Some(t) = unscoped::templates::get(c, g.template_id)? else {
                    return Ok(());
                };
                let at = now();
                let new: Vec<Appliance> = (0..count)
                    .map(|_| {
                        let id = ApplianceId::new();
                        let short = &id.to_string()[28..];
                        Appliance {
                            id,
                            tenant_id: tenant,
                            application_id: app_id,
                            group_id: g.id,
                            template_id: t.id,
                            name: format!("{}-{short}", g.name),
                            state: ApplianceState::Pending,
                            state_reason: "scheduled".into(),
                            state_since: at,
                            target: Target::Run,
                            host_id: None,
                            ip: None,
                            flavor: t.flavor,
                            last_heartbeat_at: None,
                            created_at: at,
                            updated_at: at,
                        }
                    })
                    .collect();
                appliances::insert_many(c, &new)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn place(&self, app: &Application, id: ApplianceId) -> Result<(), OrchestratorError> {
        self.place_many(app, vec![id]).await
    }

    /// Place appliances of one application. Placements of every pass that asks meanwhile go together
    /// (see [`Placer`]): one transaction, serialised with every other placement, chooses their hosts
    /// against one view of the hosts' usage, updated as it goes, and records them in a few
    /// statements.
    pub(crate) async fn place_many(
        &self,
        app: &Application,
        ids: Vec<ApplianceId>,
    ) -> Result<(), OrchestratorError> {
        for _ in &ids {
            self.step()?;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.placer
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(PlaceRequest {
                app_pool: app.pool_id,
                ids,
                reply,
            });
        // whoever holds the turn places everything queued by then; a request answered meanwhile
        // (an earlier holder took it) stops waiting for the turn. The batch runs in a task of its
        // own that holds the turn, so a pass dropped while it places (its lease lost) neither
        // leaves the others without an answer nor lets the next batch start beside this one.
        let mut answer = answer;
        let answered = loop {
            tokio::select! {
                biased;
                a = &mut answer => break a,
                turn = self.placer.turn.clone().lock_owned() => {
                    let batch = std::mem::take(
                        &mut *self.placer.queue.lock().unwrap_or_else(|p| p.into_inner()),
                    );
                    if !batch.is_empty() {
                        let store = self.store.clone();
                        let placing = tokio::spawn(async move {
                            place_batch(&store, batch).await;
                            drop(turn);
                        });
                        // (a panic in the task drops the replies: the waiters get an error)
                        let _ = placing.await;
                    }
                }
            }
        };
        match answered {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(OrchestratorError::Placement(why)),
            Err(_) => Err(OrchestratorError::Placement(
                "the placement was dropped".into(),
            )),
        }
    }

    /// Start the domains of appliances placed on their hosts (creating → booting). What the specs
    /// need is read at once, the domains are created concurrently, and the moves recorded together.
    pub(crate) async fn boot_many(&self, ids: Vec<ApplianceId>) -> Result<(), OrchestratorError> {
        let (creating, hosts, ctx) = self
            .store
            .read(move |c| -> Result<_, StoreError> {
                let creating: Vec<Appliance> = unscoped::appliances::get_many(c, &ids)?
                    .into_iter()
                    .filter(|a| a.state == ApplianceState::Creating)
                    .collect();
                let hosts = hosts_by_id(c, creating.iter().filter_map(|a| a.host_id))?;
                let ids: Vec<ApplianceId> = creating.iter().map(|a| a.id).collect();
                let mut apps: Vec<ApplicationId> =
                    creating.iter().map(|a| a.application_id).collect();
                apps.sort();
                apps.dedup();
                let ctx = SpecContext::load(
                    c,
                    creating.iter().map(|a| a.template_id),
                    hosts.values().map(|h| h.pool_id),
                    &ids,
                    &apps,
                )?;
                Ok((creating, hosts, ctx))
            })
            .await?;
        // moves are recorded as the domains start, a few at a time, so a slow host (each call has
        // its timeout) holds back no other host's records for long
        let mut started = std::pin::pin!(
            futures_util::stream::iter(creating)
                .map(|a| {
                    let (hosts, ctx) = (&hosts, &ctx);
                    async move {
                        let r = self.start_domain(&a, hosts, ctx).await;
                        (a, r)
                    }
                })
                .buffer_unordered(self.config.concurrency.max(1))
                .ready_chunks(64)
        );
        let mut first_error = None;
        while let Some(done) = started.next().await {
            let mut moves = Vec::new();
            for (a, r) in done {
                match r {
                    Ok(Some(host)) => moves.push(appliances::Move {
                        appliance: a,
                        to: ApplianceState::Booting,
                        host: None,
                        reason: format!("domain started on {host}"),
                    }),
                    Ok(None) => {}
                    Err(OrchestratorError::Crashed) => return Err(OrchestratorError::Crashed),
                    Err(e) => {
                        tracing::warn!(appliance = %a.id, error = %store::Chain(&e), "starting a domain failed");
                        first_error.get_or_insert(e);
                    }
                }
            }
            // a crash before this write leaves domains whose appliances still say `creating`: the
            // next pass finds each domain by its name and only records the step
            if moves.is_empty() {
                continue;
            }
            let wanted: Vec<ApplianceId> = moves.iter().map(|m| m.appliance.id).collect();
            let moved = self
                .store
                .write(move |c| appliances::move_many(c, &moves))
                .await?;
            // an appliance moved meanwhile (terminated or failed while its domain started) must not
            // keep a domain nobody accounts for
            let raced: Vec<ApplianceId> = wanted
                .into_iter()
                .filter(|id| !moved.contains(id))
                .collect();
            if !raced.is_empty() {
                let now_are = self
                    .store
                    .read(move |c| unscoped::appliances::get_many(c, &raced))
                    .await?;
                for a in now_are.iter().filter(|a| !a.state.holds_host()) {
                    if let Err(e) = self.remove_domain(a).await {
                        tracing::warn!(appliance = %a.id, error = %store::Chain(&e), "removing the domain of an appliance that moved while it started");
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        // the new guests' peers on the other hosts of their applications learn their addresses
        let mut apps: Vec<ApplicationId> = ctx.peers.keys().map(|(app, _)| *app).collect();
        apps.sort();
        apps.dedup();
        self.sync_peers(apps).await?;
        first_error.map_or(Ok(()), Err)
    }

    /// Set the peer filters of applications on pool networks on every host where they have
    /// guests, to the addresses their appliances hold now (after guests came or went). A host
    /// that does not answer is skipped: the next change sets it again, and a domain created on it
    /// sets its own.
    pub(crate) async fn sync_peers(
        &self,
        apps: Vec<ApplicationId>,
    ) -> Result<(), OrchestratorError> {
        if apps.is_empty() {
            return Ok(());
        }
        let (filters, hosts) = self
            .store
            .read(move |c| -> Result<_, StoreError> {
                let peers = ipam::of_applications(c, &apps)?;
                if peers.is_empty() {
                    // no guest of theirs on a pool network (any more): no filter to change
                    return Ok((Vec::new(), std::collections::HashMap::new()));
                }
                let mut out = Vec::new();
                let mut host_ids = Vec::new();
                for app in &apps {
                    let members = unscoped::appliances::of_application(c, *app)?;
                    let on: Vec<common::HostId> = members
                        .iter()
                        .filter(|a| a.state.holds_host())
                        .filter_map(|a| a.host_id)
                        .collect();
                    host_ids.extend(on.iter().copied());
                    out.push((*app, on));
                }
                let hosts = hosts_by_id(c, host_ids)?;
                let mut pool_ids: Vec<common::PoolId> = hosts.values().map(|h| h.pool_id).collect();
                pool_ids.sort();
                pool_ids.dedup();
                let mut filters = Vec::new();
                for id in pool_ids {
                    let Some(pool) = pools::get(c, id)? else {
                        continue;
                    };
                    let Some((n, net)) = pool.network.as_ref().and_then(|n| Some((n, n.net()?)))
                    else {
                        continue;
                    };
                    for (app, on) in &out {
                        let targets: Vec<common::HostId> = on
                            .iter()
                            .filter(|h| hosts.get(h).is_some_and(|h| h.pool_id == id))
                            .copied()
                            .collect();
                        if targets.is_empty() {
                            continue;
                        }
                        let filter = crate::drivers::PeerFilter {
                            application_id: *app,
                            network: net,
                            gateway: n.gateway(),
                            peers: peers.get(&(*app, id)).cloned().unwrap_or_default(),
                        };
                        filters.push((filter, targets));
                    }
                }
                Ok((filters, hosts))
            })
            .await?;
        for (filter, targets) in filters {
            let mut seen = std::collections::HashSet::new();
            for id in targets {
                let Some(host) = hosts.get(&id).filter(|_| seen.insert(id)) else {
                    continue;
                };
                if matches!(host.state, HostState::Down | HostState::Fenced) {
                    continue;
                }
                let driver = self.drivers.for_uri(&host.uri)?;
                if let Err(e) = driver.set_peers(&host.uri, &filter).await {
                    tracing::warn!(host = %host.name, application = %filter.application_id, error = %store::Chain(&e), "setting an application's peer filter failed");
                }
            }
        }
        Ok(())
    }

    /// Start one appliance's domain; the name of its host when it started (`None`: it failed, and
    /// was recorded as failed).
    async fn start_domain(
        &self,
        a: &Appliance,
        hosts: &std::collections::HashMap<common::HostId, Host>,
        ctx: &SpecContext,
    ) -> Result<Option<String>, OrchestratorError> {
        let Some(host) = a.host_id.and_then(|h| hosts.get(&h)) else {
            self.move_to(
                a,
                ApplianceState::Failed,
                "its host was deleted",
                Some("appliance.failed"),
            )
            .await?;
            return Ok(None);
        };
        // a crash injected by another start of this batch stops the rest, as a dead process would
        self.crashed()?;
        let driver = self.drivers.for_uri(&host.uri)?;
        let spec = match self.spec_in(ctx, a, host) {
            Ok(spec) => spec,
            Err(e @ DriverError::Refused { .. }) => {
                self.refused(a, host, &e).await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        match driver.create(&host.uri, &spec).await {
            Ok(()) => {
                self.step()?;
                Ok(Some(host.name.clone()))
            }
            Err(e @ DriverError::Refused { .. }) => {
                // a half-made domain must go before the appliance is failed (and replaced)
                driver.undefine(&host.uri, &spec.name).await?;
                self.refused(a, host, &e).await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The domain spec of an appliance on `host` (one read; see [`SpecContext`]).
    async fn spec(&self, a: &Appliance, host: &Host) -> Result<DomainSpec, OrchestratorError> {
        let (tid, pool_id) = (a.template_id, host.pool_id);
        let (aid, app) = (a.id, a.application_id);
        let ctx = self
            .store
            .read(move |c| SpecContext::load(c, [tid], [pool_id], &[aid], &[app]))
            .await?;
        Ok(self.spec_in(&ctx, a, host)?)
    }

    /// The domain spec of an appliance on `host`: its template's registered images, which must be
    /// in the host's pool, with that pool's image directory; its identity and token.
    fn spec_in(
        &self,
        ctx: &SpecContext,
        a: &Appliance,
        host: &Host,
    ) -> Result<DomainSpec, DriverError> {
        let refuse = DriverError::refused;
        let t = ctx
            .templates
            .get(&a.template_id)
            .ok_or_else(|| refuse(format!("the template of {} is gone", a.name)))?;
        let pool = ctx
            .pools
            .get(&host.pool_id)
            .ok_or_else(|| refuse(format!("the pool of host {} is gone", host.name)))?;
        let image =
            |id: Option<ImageId>, kind: ImageKind| -> Result<Option<ImageRef>, DriverError> {
                let Some(id) = id else { return Ok(None) };
                let i = ctx.images.get(&id).ok_or_else(|| {
                    refuse(format!(
                        "image {id} of template {} is not registered",
                        t.name
                    ))
                })?;
                if i.pool_id != pool.id || i.kind != kind {
                    return Err(refuse(format!(
                        "image {} is a {} of pool {}, not a {} of host {}'s pool",
                        i.name,
                        i.kind.as_str(),
                        i.pool_id,
                        kind.as_str(),
                        host.name
                    )));
                }
                Ok(Some(ImageRef {
                    id: i.id,
                    file: i.file.clone(),
                    format: i.format,
                    sha256: i.sha256.clone(),
                    size_bytes: i.size_bytes,
                }))
            };
        Ok(DomainSpec {
            name: a.domain_name(),
            appliance_id: a.id,
            group_id: a.group_id,
            vcpus: a.flavor.vcpus,
            memory_mib: a.flavor.memory_mib,
            disk_gib: a.flavor.disk_gib,
            disk: image(t.image_id, ImageKind::Disk)?,
            kernel: image(t.kernel_image_id, ImageKind::Kernel)?,
            initrd: image(t.initrd_image_id, ImageKind::Initrd)?,
            image_dir: pool.image_dir.clone(),
            agent_token: self.key.issue(a.id),
            agent_url: pool
                .network
                .as_ref()
                .map(|n| n.agent_url.clone())
                .unwrap_or_else(|| self.config.agent_url.clone()),
            nic: nic_of(
                pool,
                a,
                ctx.addresses.get(&a.id).copied(),
                ctx.peers
                    .get(&(a.application_id, pool.id))
                    .map_or(&[][..], Vec::as_slice),
            )?,
        })
    }
}

/// The guest interface of an appliance in `pool`: on the pool's bridge with the address IPAM gave
/// it; none for a pool without a network. An appliance of such a pool without an address (placed
/// before the pool had a network) is refused rather than started on the wrong network.
fn nic_of(
    pool: &store::Pool,
    a: &Appliance,
    address: Option<std::net::Ipv4Addr>,
    peers: &[std::net::Ipv4Addr],
) -> Result<Option<crate::drivers::Nic>, DriverError> {
    let name = &a.name;
    let Some(n) = &pool.network else {
        return Ok(None);
    };
    let (Some(net), Some(address)) = (
        n.net(),
        address.filter(|a| n.net().is_some_and(|net| net.contains(a))),
    ) else {
        return Err(DriverError::refused(format!(
            "{name} holds no address of the network of pool {}",
            pool.name
        )));
    };
    let mut peers = peers.to_vec();
    if !peers.contains(&address) {
        peers.push(address);
        peers.sort();
    }
    Ok(Some(crate::drivers::Nic {
        bridge: n.bridge.clone(),
        address,
        prefix: net.prefix_len(),
        gateway: n.gateway(),
        peers: crate::drivers::PeerFilter {
            application_id: a.application_id,
            network: net,
            gateway: n.gateway(),
            peers,
        },
    }))
}

/// What domain specs are made of: templates, pools and registered images, read together.
struct SpecContext {
    templates: std::collections::HashMap<common::TemplateId, store::Template>,
    pools: std::collections::HashMap<common::PoolId, store::Pool>,
    images: std::collections::HashMap<ImageId, store::Image>,
    /// The appliances' IPAM addresses.
    addresses: std::collections::HashMap<ApplianceId, std::net::Ipv4Addr>,
    /// The addresses the appliances of their applications hold, per pool (the peer filters).
    peers: std::collections::HashMap<(ApplicationId, common::PoolId), Vec<std::net::Ipv4Addr>>,
}

impl SpecContext {
    fn load(
        c: &mut DbConn,
        template_ids: impl IntoIterator<Item = common::TemplateId>,
        pool_ids: impl IntoIterator<Item = common::PoolId>,
        appliance_ids: &[ApplianceId],
        app_ids: &[ApplicationId],
    ) -> Result<SpecContext, StoreError> {
        let mut templates = std::collections::HashMap::new();
        for id in template_ids {
            if !templates.contains_key(&id)
                && let Some(t) = unscoped::templates::get(c, id)?
            {
                templates.insert(id, t);
            }
        }
        let mut pools = std::collections::HashMap::new();
        for id in pool_ids {
            if !pools.contains_key(&id)
                && let Some(p) = pools::get(c, id)?
            {
                pools.insert(id, p);
            }
        }
        let image_ids: Vec<ImageId> = templates
            .values()
            .flat_map(|t: &store::Template| [t.image_id, t.kernel_image_id, t.initrd_image_id])
            .flatten()
            .collect();
        let images = images::get_many(c, &image_ids)?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        Ok(SpecContext {
            templates,
            images,
            addresses: ipam::of_appliances(c, appliance_ids)?,
            peers: if pools.values().any(|p| p.network.is_some()) {
                ipam::of_applications(c, app_ids)?
            } else {
                std::collections::HashMap::new()
            },
            pools,
        })
    }
}

/// Place a batch of requests in one transaction and answer each; when that transaction fails and
/// the batch holds several requests, each is placed again on its own, so one application's trouble
/// is not every application's.
async fn place_batch(db: &store::Store, batch: Vec<PlaceRequest>) {
    let wanted: Vec<(ApplianceId, Option<common::PoolId>)> = batch
        .iter()
        .flat_map(|r| r.ids.iter().map(move |id| (*id, r.app_pool)))
        .collect();
    let outcome = db
        .write(move |c| -> Result<Vec<(ApplianceId, String)>, StoreError> {
            hosts::lock_placement(c)?;
            let pool_of: std::collections::HashMap<ApplianceId, Option<common::PoolId>> =
                wanted.iter().copied().collect();
            let ids: Vec<ApplianceId> = wanted.iter().map(|w| w.0).collect();
            // read under the placement lock: what another orchestrator placed meanwhile is seen
            let placing: Vec<Appliance> = unscoped::appliances::get_many(c, &ids)?
                .into_iter()
                .filter(|a| matches!(a.state, ApplianceState::Pending | ApplianceState::Placing))
                .collect();
            if placing.is_empty() {
                return Ok(Vec::new());
            }
            let (mut cands, all) = candidates(c)?;
            let pools: std::collections::HashMap<_, _> =
                pools::all(c)?.into_iter().map(|p| (p.id, p)).collect();
            let mut template_ids: Vec<_> = placing.iter().map(|a| a.template_id).collect();
            template_ids.sort();
            template_ids.dedup();
            let template_pools = unscoped::templates::pools_of(c, &template_ids)?;
            let mut spread_of: std::collections::HashMap<
                GroupId,
                std::collections::HashMap<common::HostId, u32>,
            > = std::collections::HashMap::new();
            let mut placed = Vec::new();
            let mut failed = Vec::new();
            let ids: Vec<ApplianceId> = placing.iter().map(|a| a.id).collect();
            let mut addresses = ipam::Allocator::new(c, &ids)?;
            let mut addressed = Vec::new();
            for a in placing {
                if let std::collections::hash_map::Entry::Vacant(e) = spread_of.entry(a.group_id) {
                    e.insert(hosts::group_spread(c, a.group_id)?);
                }
                let spread = spread_of.get_mut(&a.group_id).ok_or(StoreError::Stale)?;
                for cand in cands.iter_mut() {
                    cand.same_group = spread.get(&cand.id).copied().unwrap_or(0);
                }
                let template_pool = template_pools.get(&a.template_id).copied().flatten();
                let app_pool = pool_of.get(&a.id).copied().flatten();
                let chosen = placement::pool_for(template_pool, app_pool).and_then(|pool| {
                    let need = Need {
                        flavor: a.flavor,
                        pool: Some(pool),
                        strategy: pools.get(&pool).map(|p| p.strategy).unwrap_or_default(),
                    };
                    placement::place(&need, &cands).map_err(|no_fit| no_fit.to_string())
                });
                // an address of the host's pool network (IPAM), when it has one
                let chosen = match chosen.map(|h| all.iter().find(|x| x.id == h)) {
                    Ok(Some(host)) => match pools.get(&host.pool_id) {
                        Some(p) => match addresses.allocate(c, p, a.id) {
                            Ok(held) => {
                                if held.is_some() {
                                    addressed.push(a.id);
                                }
                                Ok(Some(host))
                            }
                            Err(StoreError::Exhausted(why)) => Err(why),
                            Err(e) => return Err(e),
                        },
                        None => Ok(Some(host)),
                    },
                    other => other,
                };
                match chosen {
                    Ok(Some(host)) => {
                        if let Some(cand) = cands.iter_mut().find(|x| x.id == host.id) {
                            cand.used.vcpus += a.flavor.vcpus;
                            cand.used.memory_mib += a.flavor.memory_mib;
                            cand.used.disk_gib += a.flavor.disk_gib;
                        }
                        *spread.entry(host.id).or_insert(0) += 1;
                        placed.push((a, Some(host.id), format!("placed on {}", host.name)));
                    }
                    Ok(None) => {}
                    Err(reason) => failed.push((a, None, reason)),
                }
            }
            addresses.finish(c)?;
            // pending → placing → creating (or failed), a few statements for them all
            let mut looking = Vec::new();
            for (a, _, _) in placed.iter().chain(&failed) {
                if a.state == ApplianceState::Pending {
                    looking.push(appliances::Move {
                        appliance: a.clone(),
                        to: ApplianceState::Placing,
                        host: None,
                        reason: "looking for a host".into(),
                    });
                }
            }
            let looking = appliances::move_many(c, &looking)?;
            let onward = |(mut a, host, reason): (Appliance, Option<common::HostId>, String),
                          to: ApplianceState| {
                if a.state == ApplianceState::Pending {
                    if !looking.contains(&a.id) {
                        return None; // moved meanwhile
                    }
                    a.state = ApplianceState::Placing;
                }
                Some(appliances::Move {
                    appliance: a,
                    to,
                    host,
                    reason,
                })
            };
            let creating: Vec<appliances::Move> = placed
                .into_iter()
                .filter_map(|p| onward(p, ApplianceState::Creating))
                .collect();
            let created = appliances::move_many(c, &creating)?;
            // an address stays with an appliance this batch placed, not with one it could not move
            let unmoved: Vec<ApplianceId> = addressed
                .into_iter()
                .filter(|id| !created.contains(id))
                .collect();
            ipam::give_back(c, &unmoved)?;
            let failing: Vec<appliances::Move> = failed
                .into_iter()
                .filter_map(|p| onward(p, ApplianceState::Failed))
                .collect();
            let failed = appliances::move_many(c, &failing)?;
            let mut reasons = Vec::with_capacity(failed.len());
            for m in failing
                .into_iter()
                .filter(|m| failed.contains(&m.appliance.id))
            {
                let mut a = m.appliance;
                a.state = ApplianceState::Failed;
                events::record(c, a.tenant_id, "placement.failed", &subject(&a), &m.reason)?;
                reasons.push((a.id, m.reason));
            }
            Ok(reasons)
        })
        .await;
    let answer = match outcome {
        Ok(failures) => {
            for (id, reason) in failures {
                tracing::info!(appliance = %id, %reason, "placement failed");
            }
            Ok(())
        }
        Err(e) if batch.len() > 1 => {
            tracing::warn!(error = %store::Chain(&e), requests = batch.len(), "a batch of placements failed; placing each on its own");
            for r in batch {
                Box::pin(place_batch(db, vec![r])).await;
            }
            return;
        }
        Err(e) => Err(store::error_chain(&e)),
    };
    for r in batch {
        let _ = r.reply.send(answer.clone());
    }
}

impl Orchestrator {
    /// A host refused to run an appliance: it fails with a reason its tenant may read (the host's
    /// paths and files are the provider's business), and the provider gets the whole cause.
    async fn refused(
        &self,
        a: &Appliance,
        host: &Host,
        e: &DriverError,
    ) -> Result<(), OrchestratorError> {
        let chain = store::error_chain(e);
        tracing::warn!(appliance = %a.id, host = %host.name, error = %chain, "a host refused an appliance");
        let reason = format!(
            "host {} could not start it (the provider's event log has the cause)",
            host.name
        );
        let Some(moved) = self
            .move_to(a, ApplianceState::Failed, &reason, Some("appliance.failed"))
            .await?
        else {
            return Ok(());
        };
        let subject = subject(&moved);
        self.store
            .write(move |c| -> Result<(), StoreError> {
                if let Some(p) = store::repo::tenants::provider(c)? {
                    events::record(c, p.id, "orchestrator.appliance_refused", &subject, &chain)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// The hosts of these ids (each read once).
fn hosts_by_id(
    c: &mut DbConn,
    ids: impl IntoIterator<Item = common::HostId>,
) -> Result<std::collections::HashMap<common::HostId, Host>, StoreError> {
    let mut ids: Vec<common::HostId> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    Ok(hosts::get_many(c, &ids)?
        .into_iter()
        .map(|h| (h.id, h))
        .collect())
}

/// Placement candidates: every host with its pool's overcommit and its usage (anti-affinity counts are
/// filled per group by the caller).
fn candidates(c: &mut DbConn) -> Result<(Vec<Candidate>, Vec<Host>), StoreError> {
    let all = hosts::all(c)?;
    let pools: std::collections::HashMap<_, _> =
        pools::all(c)?.into_iter().map(|p| (p.id, p)).collect();
    let usage = hosts::usage(c)?;
    let cands = all
        .iter()
        .map(|h| Candidate {
            id: h.id,
            pool_id: h.pool_id,
            state: h.state,
            capacity: h.capacity,
            overcommit: pools
                .get(&h.pool_id)
                .map(|p| p.overcommit)
                .unwrap_or_default(),
            used: usage.get(&h.id).map(|u| u.0).unwrap_or_default(),
            same_group: 0,
        })
        .collect();
    Ok((cands, all))
}
