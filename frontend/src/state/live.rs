//! The live view of an application, fed by its stream (`GET /applications/{id}/stream`), and the
//! decision what to do when a stream ends. Pure: the hook (`hooks/live.rs`) reads the frames and
//! sleeps; everything here is table-tested natively.
//!
//! The stream delivers at least once: a frame may come again after a reconnect, and a change that
//! committed late may come after a newer one. So ids seen are dropped, and an appliance's row is
//! replaced only by one whose `state_since` is not older.

use common::api::{
    ApplianceChange, ApplianceResponse, EventResponse, StreamEnd, StreamSnapshot, frame_kind,
};
use common::sse::Frame;
use common::{ApplianceId, ApplianceState};
use std::collections::{HashSet, VecDeque};

/// Ids remembered to drop repeats (a replay covers a few seconds of changes).
const SEEN_MAX: usize = 4096;
/// Events kept for the history, newest first.
pub const EVENTS_MAX: usize = 50;

/// What applying a frame changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A repeat, a heartbeat, or an older row.
    Nothing,
    /// The appliances or the history changed.
    Changed,
    /// Something the application's own record shows changed too (a group's size): read it again.
    Application,
    /// The server closes the stream, for this reason.
    End(EndReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    TokenExpired,
    Lagging,
    Shutdown,
    Other,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveView {
    /// The live appliances, oldest first.
    pub appliances: Vec<ApplianceResponse>,
    /// The latest events, newest first.
    pub events: VecDeque<EventResponse>,
    /// A snapshot arrived since the stream (re)opened.
    pub synced: bool,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
}

impl LiveView {
    /// The stream closed: what is shown stays, marked as not current until the next snapshot.
    pub fn disconnected(&mut self) {
        self.synced = false;
    }

    fn first_time(&mut self, id: &Option<String>) -> bool {
        let Some(id) = id else { return true };
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.seen_order.push_back(id.clone());
        if self.seen_order.len() > SEEN_MAX
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// Apply one frame; an `Err` names a frame that did not decode (the stream goes on).
    pub fn apply(&mut self, f: &Frame) -> Result<Applied, String> {
        let bad = |e: serde_json::Error| format!("a {} frame did not decode: {e}", f.event);
        match f.event.as_str() {
            frame_kind::SNAPSHOT => {
                let s: StreamSnapshot = serde_json::from_str(&f.data).map_err(bad)?;
                let mut list = s.appliances;
                list.sort_by_key(|a| a.id);
                self.appliances = list;
                self.synced = true;
                Ok(Applied::Application)
            }
            frame_kind::APPLIANCE => {
                let c: ApplianceChange = serde_json::from_str(&f.data).map_err(bad)?;
                if !self.first_time(&f.id) {
                    return Ok(Applied::Nothing);
                }
                Ok(self.change(c))
            }
            frame_kind::EVENT => {
                let e: EventResponse = serde_json::from_str(&f.data).map_err(bad)?;
                if !self.first_time(&f.id) {
                    return Ok(Applied::Nothing);
                }
                let scale = e.type_.starts_with("scale.");
                // newest first, by id (a late event goes where it belongs)
                let at = self
                    .events
                    .iter()
                    .position(|x| x.id < e.id)
                    .unwrap_or(self.events.len());
                self.events.insert(at, e);
                self.events.truncate(EVENTS_MAX);
                Ok(if scale {
                    Applied::Application
                } else {
                    Applied::Changed
                })
            }
            frame_kind::END => {
                let e: StreamEnd = serde_json::from_str(&f.data).map_err(bad)?;
                Ok(Applied::End(match e.reason.as_str() {
                    "token_expired" => EndReason::TokenExpired,
                    "lagging" => EndReason::Lagging,
                    "shutdown" => EndReason::Shutdown,
                    _ => EndReason::Other,
                }))
            }
            _ => Ok(Applied::Nothing),
        }
    }

    fn change(&mut self, c: ApplianceChange) -> Applied {
        let Some(row) = c.appliance else {
            // a replayed or intermediate change: the snapshot or a later frame carries the row
            return Applied::Nothing;
        };
        let at = self.appliances.iter().position(|a| a.id == row.id);
        match at {
            Some(i) if self.appliances[i].state_since > row.state_since => Applied::Nothing,
            Some(i) if row.state == ApplianceState::Terminated => {
                self.appliances.remove(i);
                Applied::Application
            }
            Some(i) => {
                self.appliances[i] = row;
                Applied::Changed
            }
            None if row.state == ApplianceState::Terminated => Applied::Nothing,
            None => {
                let i = self
                    .appliances
                    .iter()
                    .position(|a| a.id > row.id)
                    .unwrap_or(self.appliances.len());
                self.appliances.insert(i, row);
                Applied::Application
            }
        }
    }

    pub fn appliance(&self, id: ApplianceId) -> Option<&ApplianceResponse> {
        self.appliances.iter().find(|a| a.id == id)
    }
}

/// What a user can ask of an appliance (`POST /appliances/{id}/{verb}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplianceAction {
    Stop,
    Start,
    Reboot,
    Terminate,
}

impl ApplianceAction {
    /// The route's last segment.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Reboot => "reboot",
            Self::Terminate => "terminate",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Stop => "Stop",
            Self::Start => "Start",
            Self::Reboot => "Reboot",
            Self::Terminate => "Terminate",
        }
    }

    /// Starting loses nothing; the others interrupt what runs, so they ask first.
    pub fn asks_first(self) -> bool {
        self != Self::Start
    }
}

/// The actions an appliance in `state` admits, by the rules the server applies
/// (`ApplianceState::may_*`): what it would refuse with 409 is not offered.
pub fn appliance_actions(state: ApplianceState) -> Vec<ApplianceAction> {
    use ApplianceAction::*;
    [
        (Stop, state.may_stop()),
        (Start, state.may_start()),
        (Reboot, state.may_reboot()),
        (Terminate, state.may_terminate()),
    ]
    .into_iter()
    .filter_map(|(a, ok)| ok.then_some(a))
    .collect()
}

/// How a stream ended, as the reader saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The server refused to open it: the status, and `Retry-After` in seconds.
    Refused {
        status: u16,
        retry_after: Option<u64>,
    },
    /// No answer, or the connection broke.
    Network,
    /// The body ended without an `end` frame.
    Closed,
    /// The server said why.
    End(EndReason),
}

/// What the reader does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reconnect {
    /// Open it again after this many milliseconds.
    After(u64),
    /// Refresh the access token, then open it again.
    Refresh,
    /// Give up, saying why (the application is gone or not the caller's).
    Stop(String),
}

/// The longest wait between two attempts, in milliseconds.
pub const BACKOFF_MAX_MS: u64 = 30_000;

/// Decide what follows `ended`. `failures` counts the attempts since a snapshot last arrived;
/// `retry_ms` is the server's `retry` (2 s when it sent none); `jitter` in [0, 1) spreads the waits
/// of many clients (a replica that stops must not see them all come back in the same instant):
/// a wait is scaled by 0.5 + `jitter`, a `Retry-After` only lengthened (by up to half), and "at
/// once" becomes up to 250 ms.
pub fn reconnect(ended: Ended, failures: u32, retry_ms: Option<u64>, jitter: f64) -> Reconnect {
    let jitter = jitter.clamp(0.0, 1.0);
    match (ended, decide(ended, failures, retry_ms)) {
        // the server said how long: never sooner
        (Ended::Refused { status: 429, .. }, Reconnect::After(ms)) => {
            Reconnect::After(((ms as f64) * (1.0 + jitter / 2.0)) as u64)
        }
        // "at once" still spreads many clients over a quarter second
        (_, Reconnect::After(0)) => Reconnect::After((250.0 * jitter) as u64),
        (_, Reconnect::After(ms)) => {
            let factor = 0.5 + jitter;
            Reconnect::After(((ms as f64) * factor).min(BACKOFF_MAX_MS as f64) as u64)
        }
        (_, other) => other,
    }
}

fn decide(ended: Ended, failures: u32, retry_ms: Option<u64>) -> Reconnect {
    let base = retry_ms.unwrap_or(2_000);
    let backoff = || (base.saturating_mul(1 << failures.min(6))).min(BACKOFF_MAX_MS);
    match ended {
        // a fresh token refused again: not the token's fault, wait like any failure
        Ended::Refused { status: 401, .. } if failures > 0 => Reconnect::After(backoff()),
        Ended::Refused { status: 401, .. } | Ended::End(EndReason::TokenExpired) => {
            Reconnect::Refresh
        }
        Ended::Refused {
            status: 403 | 404, ..
        } => Reconnect::Stop("This application is no longer available to you.".into()),
        Ended::Refused {
            status: 429,
            retry_after,
        } => Reconnect::After(
            retry_after
                .map_or(5_000, |s| s.saturating_mul(1000))
                .max(base),
        ),
        // it fell behind: catch up at once from a fresh snapshot (once; then as any failure)
        Ended::End(EndReason::Lagging) if failures == 0 => Reconnect::After(0),
        Ended::End(EndReason::Shutdown) if failures == 0 => Reconnect::After(base),
        Ended::Refused { .. } | Ended::Network | Ended::Closed | Ended::End(_) => {
            Reconnect::After(backoff())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use common::{ApplicationId, GroupId};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_000_000 + s, 0)
            .single()
            .unwrap_or_default()
    }

    fn row(id: ApplianceId, state: ApplianceState, since: i64) -> ApplianceResponse {
        ApplianceResponse {
            id,
            application_id: ApplicationId::new(),
            group_id: GroupId::new(),
            name: "web-1".into(),
            state,
            state_reason: String::new(),
            host_id: None,
            ip: None,
            vcpus: 1,
            memory_mib: 256,
            created_at: t(0),
            state_since: t(since),
            last_heartbeat_at: None,
            metrics: None,
        }
    }

    fn change_frame(fid: &str, r: Option<ApplianceResponse>, id: ApplianceId) -> Frame {
        let c = ApplianceChange {
            id: fid.into(),
            appliance_id: id,
            from: None,
            to: r.as_ref().map_or(ApplianceState::Booting, |r| r.state),
            reason: String::new(),
            at: t(0),
            appliance: r,
        };
        Frame {
            event: frame_kind::APPLIANCE.into(),
            data: serde_json::to_string(&c).unwrap_or_default(),
            id: Some(fid.into()),
        }
    }

    fn snapshot(rows: Vec<ApplianceResponse>) -> Frame {
        Frame {
            event: frame_kind::SNAPSHOT.into(),
            data: serde_json::to_string(&StreamSnapshot { appliances: rows }).unwrap_or_default(),
            id: None,
        }
    }

    fn states(v: &LiveView) -> Vec<ApplianceState> {
        v.appliances.iter().map(|a| a.state).collect()
    }

    #[test]
    fn changes_apply_once_and_never_move_an_appliance_back() {
        use ApplianceState::*;
        let a = ApplianceId::new();
        let mut v = LiveView::default();
        let steps: Vec<(Frame, Applied, Vec<ApplianceState>)> = vec![
            (snapshot(vec![]), Applied::Application, vec![]),
            (
                change_frame("01", Some(row(a, Booting, 1)), a),
                Applied::Application,
                vec![Booting],
            ),
            // the same id again: dropped
            (
                change_frame("01", Some(row(a, Running, 9)), a),
                Applied::Nothing,
                vec![Booting],
            ),
            (
                change_frame("03", Some(row(a, Running, 3)), a),
                Applied::Changed,
                vec![Running],
            ),
            // a late change, older than what is shown: dropped
            (
                change_frame("02", Some(row(a, Configuring, 2)), a),
                Applied::Nothing,
                vec![Running],
            ),
            // an intermediate change without its row: the row comes with a later frame
            (change_frame("04", None, a), Applied::Nothing, vec![Running]),
            (
                change_frame("05", Some(row(a, Terminated, 5)), a),
                Applied::Application,
                vec![],
            ),
            // a terminated appliance the view does not hold stays out
            (
                change_frame("06", Some(row(a, Terminated, 6)), a),
                Applied::Nothing,
                vec![],
            ),
        ];
        for (i, (f, want, shown)) in steps.into_iter().enumerate() {
            assert_eq!(v.apply(&f), Ok(want), "step {i}");
            assert_eq!(states(&v), shown, "step {i}");
        }
    }

    #[test]
    fn a_snapshot_replaces_everything_and_marks_the_view_current() {
        use ApplianceState::*;
        let (a, b) = (ApplianceId::new(), ApplianceId::new());
        let mut v = LiveView::default();
        v.apply(&snapshot(vec![row(b, Running, 1), row(a, Booting, 1)]))
            .unwrap_or(Applied::Nothing);
        assert!(v.synced);
        assert_eq!(
            v.appliances.iter().map(|x| x.id).collect::<Vec<_>>(),
            vec![a, b]
        );
        v.disconnected();
        assert!(!v.synced);
        v.apply(&snapshot(vec![row(a, Running, 2)]))
            .unwrap_or(Applied::Nothing);
        assert!(v.synced);
        assert_eq!(states(&v), vec![Running]);
    }

    #[test]
    fn events_keep_the_newest_first_and_scaling_rereads_the_application() {
        let mut v = LiveView::default();
        let ev = |ty: &str| EventResponse {
            id: common::EventId::new(),
            type_: ty.into(),
            application_id: None,
            appliance_id: None,
            host_id: None,
            detail: String::new(),
            at: t(0),
        };
        let frame = |e: &EventResponse| Frame {
            event: frame_kind::EVENT.into(),
            data: serde_json::to_string(e).unwrap_or_default(),
            id: Some(e.id.to_string()),
        };
        let (first, second) = (ev("appliance.came_alive"), ev("scale.out"));
        assert_eq!(v.apply(&frame(&second)), Ok(Applied::Application));
        assert_eq!(v.apply(&frame(&first)), Ok(Applied::Changed), "late, older");
        assert_eq!(v.apply(&frame(&first)), Ok(Applied::Nothing), "again");
        let order: Vec<_> = v.events.iter().map(|e| e.type_.as_str()).collect();
        assert_eq!(order, vec!["scale.out", "appliance.came_alive"]);
        for _ in 0..EVENTS_MAX + 5 {
            v.apply(&frame(&ev("appliance.came_alive")))
                .unwrap_or(Applied::Nothing);
        }
        assert_eq!(v.events.len(), EVENTS_MAX);
    }

    #[test]
    fn frames_that_do_not_decode_are_named_and_unknown_ones_ignored() {
        let mut v = LiveView::default();
        let bad = Frame {
            event: frame_kind::SNAPSHOT.into(),
            data: "{".into(),
            id: None,
        };
        assert!(v.apply(&bad).is_err_and(|e| e.contains("snapshot")));
        let other = Frame {
            event: "future-kind".into(),
            data: "{}".into(),
            id: None,
        };
        assert_eq!(v.apply(&other), Ok(Applied::Nothing));
        let end = Frame {
            event: frame_kind::END.into(),
            data: r#"{"reason":"lagging"}"#.into(),
            id: None,
        };
        assert_eq!(v.apply(&end), Ok(Applied::End(EndReason::Lagging)));
    }

    #[test]
    fn what_follows_the_end_of_a_stream() {
        use Reconnect::*;
        let refused = |status, retry_after| Ended::Refused {
            status,
            retry_after,
        };
        let stop = Stop("This application is no longer available to you.".into());
        let cases = [
            (refused(401, None), 0, None, Refresh),
            (refused(401, None), 1, None, After(4_000)),
            (Ended::End(EndReason::TokenExpired), 3, None, Refresh),
            (refused(404, None), 0, None, stop.clone()),
            (refused(403, None), 2, None, stop),
            (refused(429, Some(7)), 0, None, After(7_000)),
            (refused(429, None), 0, None, After(5_000)),
            (Ended::End(EndReason::Lagging), 0, None, After(0)),
            // lagging again before a snapshot: back off like any failure
            (Ended::End(EndReason::Lagging), 1, None, After(4_000)),
            (
                Ended::End(EndReason::Shutdown),
                0,
                Some(1_000),
                After(1_000),
            ),
            (Ended::Network, 0, None, After(2_000)),
            (Ended::Network, 1, None, After(4_000)),
            (Ended::Closed, 3, Some(1_000), After(8_000)),
            (refused(503, None), 10, None, After(BACKOFF_MAX_MS)),
            (
                Ended::Network,
                u32::MAX,
                Some(u64::MAX),
                After(BACKOFF_MAX_MS),
            ),
        ];
        for (ended, failures, retry, want) in cases {
            assert_eq!(
                decide(ended, failures, retry),
                want,
                "{ended:?} after {failures}"
            );
        }
    }

    #[test]
    fn jitter_spreads_waits_between_half_and_one_and_a_half_within_the_cap() {
        let cases = [
            (0.0, Reconnect::After(1_000)),
            (0.999, Reconnect::After(2_998)),
            (7.0, Reconnect::After(3_000)),
            (-1.0, Reconnect::After(1_000)),
        ];
        for (jitter, want) in cases {
            assert_eq!(reconnect(Ended::Network, 0, None, jitter), want, "{jitter}");
        }
        assert_eq!(
            reconnect(Ended::Network, 9, None, 0.999),
            Reconnect::After(BACKOFF_MAX_MS),
            "never past the cap"
        );
        let refused = Ended::Refused {
            status: 401,
            retry_after: None,
        };
        assert_eq!(reconnect(refused, 0, None, 0.9), Reconnect::Refresh);
    }

    #[test]
    fn an_appliance_is_offered_what_its_state_admits() {
        use ApplianceAction::*;
        use ApplianceState as S;
        let cases = [
            (S::Running, vec![Stop, Reboot, Terminate]),
            (S::Booting, vec![Stop, Terminate]),
            (S::Configuring, vec![Stop, Terminate]),
            (S::Stopped, vec![Start, Terminate]),
            (S::Stopping, vec![Start, Terminate]),
            (S::Failed, vec![Terminate]),
            (S::Terminated, vec![]),
        ];
        for (state, want) in cases {
            assert_eq!(appliance_actions(state), want, "{state:?}");
        }
        assert!(!Start.asks_first() && Terminate.asks_first());
        assert_eq!(Reboot.verb(), "reboot");
    }

    #[test]
    fn a_retry_after_is_never_shortened_and_at_once_is_spread() {
        let refused = Ended::Refused {
            status: 429,
            retry_after: Some(4),
        };
        assert_eq!(reconnect(refused, 0, None, 0.0), Reconnect::After(4_000));
        assert_eq!(reconnect(refused, 0, None, 1.0), Reconnect::After(6_000));
        let lagging = Ended::End(EndReason::Lagging);
        assert_eq!(reconnect(lagging, 0, None, 0.0), Reconnect::After(0));
        assert_eq!(reconnect(lagging, 0, None, 0.5), Reconnect::After(125));
    }
}
