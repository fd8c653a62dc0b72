//! The stream's frames, written once per change and shared by every stream of its application.

use crate::appliances::service::appliance_response;
use actix_web::web::Bytes;
use common::api::{
    ApplianceChange, ApplianceResponse, EventResponse, StreamEnd, StreamSnapshot, frame_kind,
};
use common::sse;
use serde::Serialize;
use store::{AppTransition, Appliance, Event};

fn json<T: Serialize>(v: &T) -> String {
    // these types hold strings, numbers and times only: serializing them cannot fail
    serde_json::to_string(v).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a stream frame did not serialize");
        "null".into()
    })
}

pub fn snapshot(appliances: Vec<ApplianceResponse>) -> Bytes {
    Bytes::from(sse::frame(
        frame_kind::SNAPSHOT,
        None,
        &json(&StreamSnapshot { appliances }),
    ))
}

/// A transition, with the appliance as read after it (none in a replay: the snapshot is newer).
pub fn change(t: &AppTransition, appliance: Option<Appliance>) -> Bytes {
    let c = ApplianceChange {
        id: t.id.clone(),
        appliance_id: t.transition.appliance_id,
        from: t.transition.from,
        to: t.transition.to,
        reason: t.transition.reason.clone(),
        at: t.transition.at,
        appliance: appliance.map(|a| appliance_response(a, None)),
    };
    Bytes::from(sse::frame(frame_kind::APPLIANCE, Some(&t.id), &json(&c)))
}

pub fn event(e: Event) -> Bytes {
    let id = e.id.to_string();
    Bytes::from(sse::frame(
        frame_kind::EVENT,
        Some(&id),
        &json(&EventResponse::from(e)),
    ))
}

pub fn end(reason: &str) -> Bytes {
    Bytes::from(sse::frame(
        frame_kind::END,
        None,
        &json(&StreamEnd {
            reason: reason.into(),
        }),
    ))
}

pub fn heartbeat() -> Bytes {
    Bytes::from(sse::comment("keep-alive"))
}

pub fn retry(ms: u64) -> Bytes {
    Bytes::from(sse::retry(ms))
}

/// Transitions and events merged in id order (both ids are UUIDv7 strings), as one chunk.
pub fn merged(transitions: Vec<(AppTransition, Option<Appliance>)>, events: Vec<Event>) -> Bytes {
    let mut keyed: Vec<(String, Bytes)> = transitions
        .into_iter()
        .map(|(t, a)| (t.id.clone(), change(&t, a)))
        .chain(events.into_iter().map(|e| (e.id.to_string(), event(e))))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(keyed.iter().map(|(_, f)| f.len()).sum());
    for (_, f) in keyed {
        out.extend_from_slice(&f);
    }
    Bytes::from(out)
}
