//! Live streams of applications (`GET /applications/{id}/stream`, server-sent events): what the
//! SPA's live view shows without polling. Each process runs one [`poller`] over the stored
//! transitions and events (so a stream on one API replica sees what another replica's orchestrator
//! did), a [`hub`] that fans the frames out to bounded per-stream queues, and the route that opens a
//! stream with a snapshot and, after `Last-Event-ID`, a replay. See docs/api.md § Live streams.

pub mod frames;
pub mod hub;
pub mod poller;
pub mod routes;
pub mod window;

pub use hub::{Hub, Limits, Refused};
pub use poller::PollConfig;
