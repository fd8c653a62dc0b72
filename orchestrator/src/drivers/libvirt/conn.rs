//! Per-host libvirt connections. The map of hosts is locked only to find a host's slot; a connection
//! is opened under that host's own lock, so a host whose `Connect::open` hangs holds up only calls to
//! itself, and those are bounded by an in-flight count.

use crate::drivers::DriverError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use virt::connect::Connect;

/// Every host's slot, by URI.
#[derive(Default)]
pub(super) struct Hosts(Mutex<HashMap<String, Arc<Slot>>>);

impl Hosts {
    /// The slot of `uri` (created on first use). Never blocks on a host.
    pub(super) fn slot(&self, uri: &str) -> Arc<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(uri.to_owned()).or_default().clone()
    }
}

/// One host: its connection (opened lazily, under this host's lock only) and the calls waiting on it.
#[derive(Default)]
pub(super) struct Slot {
    conn: Mutex<Option<Arc<Connect>>>,
    in_flight: AtomicUsize,
}

/// A call counted against its host's in-flight limit until dropped (when the blocking work ends,
/// not when its caller stops waiting).
pub(super) struct Ticket(Arc<Slot>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slot {
    /// Count a call; `None` when `max` calls already wait on this host.
    pub(super) fn enter(self: &Arc<Self>, max: usize) -> Option<Ticket> {
        let before = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let ticket = Ticket(self.clone());
        (before < max.max(1)).then_some(ticket)
    }

    /// The host's live connection, opened if needed (blocking: call on the blocking pool).
    pub(super) fn connect(&self, uri: &str) -> Result<Arc<Connect>, DriverError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = conn.as_ref() {
            if c.is_alive().unwrap_or(false) {
                return Ok(c.clone());
            }
            *conn = None;
        }
        let c = Arc::new(Connect::open(Some(uri)).map_err(|e| DriverError::unreachable(uri, e))?);
        *conn = Some(c.clone());
        Ok(c)
    }

    /// Drop a connection that failed.
    pub(super) fn forget(&self) {
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Whether a libvirt error means the connection itself is gone (libvirtd restarted or unreachable).
pub(super) fn is_broken(e: &virt::error::Error) -> bool {
    use virt::enumutil::Enum::Known;
    use virt::error::ErrorNumber as N;
    let m = e.to_string();
    matches!(e.code(), Known(N::NoConnect))
        || m.contains("Broken pipe")
        || m.contains("client socket is closed")
        || m.contains("End of file")
        || m.contains("Connection reset")
}
