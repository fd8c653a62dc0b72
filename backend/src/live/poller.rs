//! The one reader per process: while any stream is open it reads the newest transitions and events
//! of every tenant (new rows each poll, the grace window again every few polls: see
//! [`super::window`]) and hands each application's frames to the hub. Idle, it waits for the first
//! stream and reads nothing.

use super::frames;
use super::hub::Hub;
use super::window::Window;
use common::{ApplianceId, ApplicationId, TenantId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use store::repo::unscoped;
use store::{AppTransition, Appliance, Event, Store, StoreError};

#[derive(Clone, Copy, Debug)]
pub struct PollConfig {
    /// How often new rows are read.
    pub every: Duration,
    /// How late a row may become visible after its id was made and still go out live.
    pub grace: Duration,
    /// Rows read per query.
    pub batch: i64,
}

/// Polls between two reads of the whole grace window.
const WINDOW_EVERY: u64 = 5;
/// Pages read in one poll at most (a burst larger than this goes out over the next polls).
const MAX_PAGES: usize = 20;

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

pub async fn run(store: Store, hub: Arc<Hub>, cfg: PollConfig) {
    let grace = u64::try_from(cfg.grace.as_millis()).unwrap_or(u64::MAX);
    let mut window = Window::new(grace, now_ms());
    let mut tick = tokio::time::interval(cfg.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    let mut failing = false;
    loop {
        if hub.is_idle() {
            window.skip_to(now_ms());
            tokio::select! {
                () = hub.closing.cancelled() => return,
                () = hub.wake.notified() => {}
            }
            // what came before the first stream opened is in its snapshot
            window.skip_to(now_ms());
        }
        tokio::select! {
            () = hub.closing.cancelled() => return,
            _ = tick.tick() => {}
        }
        n += 1;
        match poll(
            &store,
            &hub,
            &mut window,
            n.is_multiple_of(WINDOW_EVERY),
            cfg.batch,
        )
        .await
        {
            Ok(()) => failing = false,
            Err(e) => {
                // once per outage, not every poll
                if !failing {
                    tracing::warn!(error = %store::Chain(&e), "the live streams could not read changes");
                }
                failing = true;
            }
        }
    }
}

/// One application's share of a poll: transitions (with the appliance after them) and events.
type Batch = (Vec<(AppTransition, Option<Appliance>)>, Vec<Event>);

/// What one poll read, before the hub's filter.
#[derive(Default)]
struct Read {
    transitions: Vec<AppTransition>,
    events: Vec<Event>,
    /// Where a table's read stopped at the page cap (the smallest such id): new reads resume there.
    cut: Option<String>,
    /// The appliances of the wanted transitions, as read after them.
    rows: HashMap<ApplianceId, Appliance>,
}

/// Read the rows after `from` and, in the same read, the appliances of those of `wanted`
/// applications that were not sent yet; nothing is marked sent until the whole read succeeded.
async fn read_after(
    store: &Store,
    from: String,
    batch: i64,
    wanted: Arc<HashSet<ApplicationId>>,
) -> Result<Read, StoreError> {
    store
        .read(move |c| {
            let mut out = Read::default();
            let (mut t_from, mut e_from) = (Some(from.clone()), Some(from));
            for _ in 0..MAX_PAGES {
                if let Some(f) = t_from.take() {
                    let page = unscoped::live::transitions_after(c, &f, batch)?;
                    if page.len() as i64 == batch {
                        t_from = page.last().map(|t| t.id.clone());
                    }
                    out.transitions.extend(page);
                }
                if let Some(f) = e_from.take() {
                    let page = unscoped::live::events_after(c, &f, batch)?;
                    if page.len() as i64 == batch {
                        e_from = page.last().map(|e| e.id.to_string());
                    }
                    out.events.extend(page);
                }
                if t_from.is_none() && e_from.is_none() {
                    break;
                }
            }
            out.cut = [t_from, e_from].into_iter().flatten().min();
            let ids: Vec<ApplianceId> = out
                .transitions
                .iter()
                .filter(|t| wanted.contains(&t.application_id))
                .map(|t| t.transition.appliance_id)
                .collect();
            if !ids.is_empty() {
                out.rows = unscoped::appliances::get_many(c, &ids)?
                    .into_iter()
                    .map(|a| (a.id, a))
                    .collect();
            }
            Ok(out)
        })
        .await
}

async fn poll(
    store: &Store,
    hub: &Hub,
    window: &mut Window,
    whole_window: bool,
    batch: i64,
) -> Result<(), StoreError> {
    let now = now_ms();
    let from = if whole_window {
        window.low(now).min(window.high().to_owned())
    } else {
        window.high().to_owned()
    };
    let mut read = read_after(store, from, batch, Arc::new(hub.wanted())).await?;
    // the streams that want rows are those open now: one that opened during the read (its
    // snapshot may predate a row read here) must get that row, so its appliances are read too
    let wanted = hub.wanted();
    let missing: Vec<ApplianceId> = read
        .transitions
        .iter()
        .filter(|t| wanted.contains(&t.application_id) && !window.sent(&t.id))
        .map(|t| t.transition.appliance_id)
        .filter(|id| !read.rows.contains_key(id))
        .collect();
    if !missing.is_empty() {
        read.rows.extend(
            store
                .read(move |c| unscoped::appliances::get_many(c, &missing))
                .await?
                .into_iter()
                .map(|a| (a.id, a)),
        );
    }
    window.forget(now);
    // every row read moves the window, wanted or not
    let transitions: Vec<AppTransition> = read
        .transitions
        .into_iter()
        .filter(|t| window.fresh(&t.id))
        .filter(|t| wanted.contains(&t.application_id))
        .collect();
    let events: Vec<Event> = read
        .events
        .into_iter()
        .filter(|e| window.fresh(&e.id.to_string()))
        .filter(|e| e.application_id.is_some_and(|a| wanted.contains(&a)))
        .collect();
    if let Some(cut) = &read.cut {
        window.rewind_to(cut);
    }
    // by application and by the row's own tenant: a row goes only to that tenant's streams
    let mut per_app: BTreeMap<(TenantId, ApplicationId), Batch> = BTreeMap::new();
    // the row as read now is the newest: it rides on the appliance's last transition of the poll
    for t in transitions.into_iter().rev() {
        let row = read.rows.remove(&t.transition.appliance_id);
        per_app
            .entry((t.transition.tenant_id, t.application_id))
            .or_default()
            .0
            .push((t, row));
    }
    for e in events {
        if let Some(app) = e.application_id {
            per_app.entry((e.tenant_id, app)).or_default().1.push(e);
        }
    }
    for ((tenant, app), (ts, es)) in per_app {
        hub.publish(tenant, app, &frames::merged(ts, es));
    }
    Ok(())
}
