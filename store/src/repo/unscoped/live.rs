//! What the live streams read: the newest transitions and events of every tenant, and the
//! appliances they changed. The stream hub (backend/src/live) fans each row out by its application
//! id to the streams that were authorized for that application when they connected, so nothing a
//! tenant sends chooses what is read here: the cursor is the hub's own.

use crate::models_apps::{AppTransition, Event, EventRow, TransitionRow};
use crate::repo::convert;
use crate::schema::{appliance_events as e, events as ev};
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// Up to `limit` transitions with ids after `after`, in id order.
pub fn transitions_after(
    conn: &mut DbConn,
    after: &str,
    limit: i64,
) -> Result<Vec<AppTransition>, StoreError> {
    convert(
        e::table
            .filter(e::id.gt(after))
            .order(e::id.asc())
            .limit(limit)
            .select(TransitionRow::as_select())
            .load(conn)?,
    )
}

/// Up to `limit` events of applications with ids after `after`, in id order.
pub fn events_after(conn: &mut DbConn, after: &str, limit: i64) -> Result<Vec<Event>, StoreError> {
    convert(
        ev::table
            .filter(ev::id.gt(after))
            .filter(ev::application_id.is_not_null())
            .order(ev::id.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .load(conn)?,
    )
}
