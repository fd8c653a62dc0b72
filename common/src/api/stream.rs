//! The live stream of an application (`GET /applications/{id}/stream`, `text/event-stream`).
//!
//! Frames, by their `event` field:
//! - `snapshot` (first on every connection, no id): [`StreamSnapshot`], the application's live
//!   appliances as they are now;
//! - `appliance` (id: the transition's): [`ApplianceChange`], a state change with the appliance as
//!   it was read after it;
//! - `event` (id: the event's): an [`crate::api::EventResponse`], a durable domain event;
//! - `end`: [`StreamEnd`], the server closes the stream (the client reconnects: the token expired,
//!   the client fell behind, or the server is shutting down).
//!
//! Delivery is at least once: after a reconnect with `Last-Event-ID` a frame may come again, and a
//! change committed late may come after a newer one. Ids are unique: a reader drops ids it has seen,
//! and applies an appliance only when its `state_since` is not older than the one it shows.

use crate::lifecycle::ApplianceState;
use crate::{ApplianceId, api::ApplianceResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `event` names of the frames.
pub mod frame_kind {
    pub const SNAPSHOT: &str = "snapshot";
    pub const APPLIANCE: &str = "appliance";
    pub const EVENT: &str = "event";
    pub const END: &str = "end";
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamSnapshot {
    /// Every appliance of the application that is not terminated.
    pub appliances: Vec<ApplianceResponse>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplianceChange {
    /// The transition's id (also the frame's).
    pub id: String,
    pub appliance_id: ApplianceId,
    pub from: Option<ApplianceState>,
    pub to: ApplianceState,
    pub reason: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub at: DateTime<Utc>,
    /// The appliance as read after the change (absent once its row is gone).
    pub appliance: Option<ApplianceResponse>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamEnd {
    /// `token_expired`, `lagging` or `shutdown`.
    pub reason: String,
}
