//! The fan-out: each open stream is a bounded queue of chunks (one poll's frames) for one
//! application of one tenant. Publishing never waits: a stream whose queue is full is dropped (its
//! place is freed at once, it ends with `end: lagging` if its client reads again, and the client
//! reconnects from a snapshot), so a slow client never slows the poller or the other streams.
//!
//! A chunk goes only to streams of its application **and** its tenant: the row's own `tenant_id`
//! decides, so a provider-only event that names a tenant's application never reaches that tenant.
//!
//! Shared by every HTTP worker (a `std::sync::Mutex` held only to copy senders and count).

use actix_web::web::Bytes;
use common::{ApplicationId, TenantId, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Why a stream could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The user holds `max_per_user` streams already.
    UserLimit(usize),
    /// The server holds `max_open` streams already.
    Full(usize),
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Chunks (one per poll with changes) queued per stream before it is dropped.
    pub buffer: usize,
    pub max_open: usize,
    pub max_per_user: usize,
}

struct Sub {
    tenant: TenantId,
    user: UserId,
    tx: mpsc::Sender<Bytes>,
    /// Its place was given back (dropped for lagging): the subscription's drop must not again.
    released: Arc<AtomicBool>,
}

#[derive(Default)]
struct Inner {
    apps: HashMap<ApplicationId, HashMap<u64, Sub>>,
    per_user: HashMap<UserId, usize>,
    open: usize,
    next: u64,
}

impl Inner {
    fn release(&mut self, user: UserId) {
        if let Some(n) = self.per_user.get_mut(&user) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&user);
            }
        }
        self.open -= 1;
        metrics::gauge!("scaleinfra_streams_open").set(self.open as f64);
    }
}

pub struct Hub {
    inner: Mutex<Inner>,
    limits: Limits,
    /// Wakes the poller when a stream opens on an idle hub.
    pub(super) wake: Notify,
    /// Cancelled when the server stops: every stream ends with `end: shutdown`.
    pub closing: CancellationToken,
    dropped: AtomicU64,
}

/// An open stream's end of the queue; dropping it closes the stream's place in the hub.
pub struct Subscription {
    hub: Arc<Hub>,
    app: ApplicationId,
    user: UserId,
    id: u64,
    released: Arc<AtomicBool>,
    pub rx: mpsc::Receiver<Bytes>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut g = self.hub.lock();
        if let Some(subs) = g.apps.get_mut(&self.app) {
            subs.remove(&self.id);
            if subs.is_empty() {
                g.apps.remove(&self.app);
            }
        }
        if !self.released.swap(true, Ordering::AcqRel) {
            g.release(self.user);
        }
    }
}

impl Hub {
    pub fn new(limits: Limits) -> Arc<Hub> {
        Arc::new(Hub {
            inner: Mutex::new(Inner::default()),
            limits,
            wake: Notify::new(),
            closing: CancellationToken::new(),
            dropped: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // the guarded maps stay consistent at every step, so a panic elsewhere leaves them usable
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a stream of `tenant`'s application `app`, opened by `user` (the caller has
    /// authorized it, or drops the subscription).
    pub fn subscribe(
        self: &Arc<Self>,
        tenant: TenantId,
        app: ApplicationId,
        user: UserId,
    ) -> Result<Subscription, Refused> {
        let mut g = self.lock();
        if g.open >= self.limits.max_open {
            return Err(Refused::Full(self.limits.max_open));
        }
        let held = g.per_user.get(&user).copied().unwrap_or(0);
        if held >= self.limits.max_per_user {
            return Err(Refused::UserLimit(self.limits.max_per_user));
        }
        let (tx, rx) = mpsc::channel(self.limits.buffer.max(1));
        let released = Arc::new(AtomicBool::new(false));
        g.next += 1;
        let id = g.next;
        let was_idle = g.apps.is_empty();
        g.apps.entry(app).or_default().insert(
            id,
            Sub {
                tenant,
                user,
                tx,
                released: released.clone(),
            },
        );
        *g.per_user.entry(user).or_default() += 1;
        g.open += 1;
        metrics::gauge!("scaleinfra_streams_open").set(g.open as f64);
        drop(g);
        if was_idle {
            self.wake.notify_one();
        }
        Ok(Subscription {
            hub: self.clone(),
            app,
            user,
            id,
            released,
            rx,
        })
    }

    /// The applications some stream listens to (read once per poll).
    pub fn wanted(&self) -> HashSet<ApplicationId> {
        self.lock().apps.keys().copied().collect()
    }

    pub fn is_idle(&self) -> bool {
        self.lock().apps.is_empty()
    }

    /// Streams holding a place.
    pub fn open(&self) -> usize {
        self.lock().open
    }

    /// Streams dropped for lagging since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queue `chunk` (one poll's frames of `tenant`'s application `app`, shared by every stream
    /// of it) on every stream of `app` that `tenant` opened; returns how many streams were dropped
    /// for lagging.
    pub fn publish(&self, tenant: TenantId, app: ApplicationId, chunk: &Bytes) -> usize {
        let mut g = self.lock();
        let Some(subs) = g.apps.get_mut(&app) else {
            return 0;
        };
        let mut gone = Vec::new();
        for (id, s) in subs.iter() {
            // full: the client is not reading; closed: it is gone
            if s.tenant == tenant && s.tx.try_send(chunk.clone()).is_err() {
                gone.push(*id);
            }
        }
        let mut freed = Vec::with_capacity(gone.len());
        for id in &gone {
            if let Some(s) = subs.remove(id)
                && !s.released.swap(true, Ordering::AcqRel)
            {
                freed.push(s.user);
            }
        }
        if subs.is_empty() {
            g.apps.remove(&app);
        }
        for user in freed {
            g.release(user);
        }
        if !gone.is_empty() {
            self.dropped.fetch_add(gone.len() as u64, Ordering::Relaxed);
            metrics::counter!("scaleinfra_streams_dropped_total").increment(gone.len() as u64);
        }
        gone.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(buffer: usize) -> Arc<Hub> {
        Hub::new(Limits {
            buffer,
            max_open: 3,
            max_per_user: 2,
        })
    }

    const T: TenantId = TenantId(uuid::Uuid::from_u128(7));

    fn frame(n: u32) -> Bytes {
        Bytes::from(n.to_string())
    }

    #[test]
    fn a_stalled_stream_is_dropped_and_the_others_get_everything_in_order() {
        let h = hub(4);
        let app = ApplicationId::new();
        let (u1, u2) = (UserId::new(), UserId::new());
        let mut stalled = h.subscribe(T, app, u1).unwrap();
        let mut reader = h.subscribe(T, app, u2).unwrap();
        let mut got = Vec::new();
        for n in 0..10 {
            h.publish(T, app, &frame(n));
            while let Ok(f) = reader.rx.try_recv() {
                got.push(f);
            }
        }
        assert_eq!(got, (0..10).map(frame).collect::<Vec<_>>());
        // the stalled one holds the first four, then its queue was closed
        let mut held = Vec::new();
        while let Ok(f) = stalled.rx.try_recv() {
            held.push(f);
        }
        assert_eq!(held, (0..4).map(frame).collect::<Vec<_>>());
        assert!(stalled.rx.is_closed());
        assert_eq!(h.open(), 1, "its place is freed at once");
        drop(stalled);
        assert_eq!(h.open(), 1, "and not twice");
        assert!(h.wanted().contains(&app));
    }

    #[test]
    fn frames_go_only_to_their_application() {
        let h = hub(8);
        let (a, b) = (ApplicationId::new(), ApplicationId::new());
        let mut sa = h.subscribe(T, a, UserId::new()).unwrap();
        let mut sb = h.subscribe(T, b, UserId::new()).unwrap();
        h.publish(T, a, &frame(1));
        h.publish(T, a, &frame(2));
        assert_eq!(sa.rx.try_recv().unwrap(), frame(1));
        assert_eq!(sa.rx.try_recv().unwrap(), frame(2));
        assert!(sb.rx.try_recv().is_err());
        assert_eq!(h.publish(T, ApplicationId::new(), &frame(3)), 0);
        // a row of another tenant naming this application reaches none of its streams
        h.publish(TenantId::new(), a, &frame(4));
        assert!(sa.rx.try_recv().is_err());
    }

    #[test]
    fn limits_per_user_and_in_all() {
        let h = hub(1);
        let app = ApplicationId::new();
        let u = UserId::new();
        let s1 = h.subscribe(T, app, u).unwrap();
        let _s2 = h.subscribe(T, app, u).unwrap();
        assert_eq!(h.subscribe(T, app, u).err(), Some(Refused::UserLimit(2)));
        let _s3 = h.subscribe(T, app, UserId::new()).unwrap();
        assert_eq!(
            h.subscribe(T, app, UserId::new()).err(),
            Some(Refused::Full(3))
        );
        drop(s1);
        assert!(
            h.subscribe(T, app, u).is_ok(),
            "a closed stream frees its place"
        );
    }

    #[test]
    fn dropping_the_last_stream_leaves_the_hub_idle() {
        let h = hub(1);
        let app = ApplicationId::new();
        let s = h.subscribe(T, app, UserId::new()).unwrap();
        assert!(!h.is_idle());
        drop(s);
        assert!(h.is_idle());
        assert!(!h.wanted().contains(&app));
        assert!(h.wanted().is_empty());
    }
}

#[cfg(test)]
mod wake {
    use super::*;

    #[tokio::test]
    async fn a_stream_opened_on_an_idle_hub_wakes_the_poller_even_while_a_dropped_one_lingers() {
        let h = Hub::new(Limits {
            buffer: 1,
            max_open: 10,
            max_per_user: 10,
        });
        let (t, app) = (TenantId::new(), ApplicationId::new());
        let lagging = h.subscribe(t, app, UserId::new()).unwrap();
        h.wake.notified().await; // the first stream's wake
        h.publish(t, app, &Bytes::from("1"));
        h.publish(t, app, &Bytes::from("2")); // full: dropped
        assert!(h.is_idle(), "the dropped stream listens to nothing");
        let _next = h.subscribe(t, app, UserId::new()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), h.wake.notified())
            .await
            .expect("the poller is woken");
        drop(lagging);
    }
}
