//! Which stored rows the hub has already sent, and where it reads next. Pure: the poller feeds it
//! the ids it read and the time.
//!
//! Rows are keyed by UUIDv7 ids, which sort by the time their writer made them, but a row can
//! become visible after a newer one: its transaction commits later, or its writer's clock is
//! behind. So each poll reads after the greatest id seen (new rows, at once), and every few polls
//! reads the whole grace window again (late rows, within a second); ids seen inside the window are
//! remembered so nothing goes out twice. A row that becomes visible more than `grace` after its id
//! was made is not sent live; the snapshot that opens every connection still shows its effect.

use std::collections::HashMap;
use uuid::Uuid;

/// The milliseconds since the epoch a UUIDv7 id was made at.
pub fn ms_of(id: &str) -> Option<u64> {
    let (secs, nanos) = Uuid::parse_str(id).ok()?.get_timestamp()?.to_unix();
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

/// The smallest UUIDv7 string made at `ms`: every id made at `ms` or later sorts after it.
pub fn floor_id(ms: u64) -> String {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    Uuid::from_bytes(b).to_string()
}

#[derive(Debug)]
pub struct Window {
    grace_ms: u64,
    /// Ids sent, with the time they were made, kept while they can still be read again.
    seen: HashMap<String, u64>,
    /// The greatest id seen (or skipped to).
    high: String,
}

impl Window {
    pub fn new(grace_ms: u64, now_ms: u64) -> Self {
        Window {
            grace_ms,
            seen: HashMap::new(),
            high: floor_id(now_ms),
        }
    }

    /// Where new rows start.
    pub fn high(&self) -> &str {
        &self.high
    }

    /// Where the window of late rows starts.
    pub fn low(&self, now_ms: u64) -> String {
        floor_id(now_ms.saturating_sub(self.grace_ms))
    }

    /// Whether `id` went out already.
    pub fn sent(&self, id: &str) -> bool {
        self.seen.contains_key(id)
    }

    /// A read stopped short at `id` (a page cap): new reads start there again, whatever greater ids
    /// the other table brought.
    pub fn rewind_to(&mut self, id: &str) {
        if id < self.high.as_str() {
            self.high = id.to_owned();
        }
    }

    /// Whether `id` goes out: false when it was sent already. Remembers it.
    pub fn fresh(&mut self, id: &str) -> bool {
        if self.seen.contains_key(id) {
            return false;
        }
        if id > self.high.as_str() {
            self.high = id.to_owned();
        }
        self.seen.insert(id.to_owned(), ms_of(id).unwrap_or(0));
        true
    }

    /// Nobody listens: nothing read before `now_ms` needs to go out (a new stream starts from a
    /// snapshot), so new reads start there.
    pub fn skip_to(&mut self, now_ms: u64) {
        let floor = floor_id(now_ms);
        if floor > self.high {
            self.high = floor;
        }
        self.forget(now_ms);
    }

    /// Drop the ids that no read of the window can return again.
    pub fn forget(&mut self, now_ms: u64) {
        let keep_from = now_ms.saturating_sub(self.grace_ms * 2);
        self.seen.retain(|_, ms| *ms >= keep_from);
    }

    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_at(ms: u64, n: u8) -> String {
        let mut b = *Uuid::parse_str(&floor_id(ms)).unwrap().as_bytes();
        b[6] = 0x70; // version 7
        b[15] = n;
        Uuid::from_bytes(b).to_string()
    }

    #[test]
    fn floor_ids_sort_below_every_id_of_their_millisecond() {
        for ms in [0, 1, 1_764_000_000_000, 1_764_000_000_999] {
            let floor = floor_id(ms);
            assert!(floor <= id_at(ms, 0), "{ms}");
            assert!(floor > id_at(ms.saturating_sub(1), 255) || ms == 0, "{ms}");
            assert_eq!(ms_of(&id_at(ms, 9)), Some(ms));
        }
        let real = Uuid::now_v7().to_string();
        let ms = ms_of(&real).unwrap();
        assert!(floor_id(ms) <= real && real < floor_id(ms + 1));
        assert_eq!(ms_of("not an id"), None);
    }

    #[test]
    fn each_id_goes_out_once_and_the_high_mark_follows_the_greatest() {
        let t = 1_764_000_000_000;
        let mut w = Window::new(5_000, t);
        // (id, expected fresh, expected high after)
        let steps = [
            (id_at(t + 10, 1), true, id_at(t + 10, 1)),
            (id_at(t + 20, 1), true, id_at(t + 20, 1)),
            // the same id again (the window read) stays quiet
            (id_at(t + 10, 1), false, id_at(t + 20, 1)),
            // a late commit with an older id still goes out, the high mark stays
            (id_at(t + 15, 1), true, id_at(t + 20, 1)),
            (id_at(t + 15, 1), false, id_at(t + 20, 1)),
        ];
        for (i, (id, fresh, high)) in steps.iter().enumerate() {
            assert_eq!(w.fresh(id), *fresh, "step {i}");
            assert_eq!(w.high(), high, "step {i}");
        }
        assert_eq!(w.remembered(), 3);
    }

    #[test]
    fn forgetting_keeps_what_the_window_can_return() {
        let t = 1_764_000_000_000;
        let mut w = Window::new(1_000, t);
        w.fresh(&id_at(t, 1));
        w.fresh(&id_at(t + 1_500, 1));
        w.forget(t + 2_000);
        assert_eq!(w.remembered(), 2, "both may be read again");
        w.forget(t + 2_001);
        assert_eq!(w.remembered(), 1);
        assert!(
            w.low(t + 2_001) > id_at(t, 1),
            "the window no longer reaches it"
        );
        assert!(!w.fresh(&id_at(t + 1_500, 1)));
    }

    #[test]
    fn a_read_cut_short_rewinds_the_high_mark_but_what_was_sent_stays_sent() {
        let t = 1_764_000_000_000;
        let mut w = Window::new(5_000, t);
        w.fresh(&id_at(t + 10, 1));
        w.fresh(&id_at(t + 90, 1));
        w.rewind_to(&id_at(t + 10, 1));
        assert_eq!(w.high(), id_at(t + 10, 1));
        assert!(w.sent(&id_at(t + 90, 1)));
        assert!(
            !w.fresh(&id_at(t + 90, 1)),
            "read again after the rewind, not sent again"
        );
        assert_eq!(
            w.high(),
            id_at(t + 10, 1),
            "a row sent before does not move it"
        );
        w.rewind_to(&id_at(t + 50, 1));
        assert_eq!(w.high(), id_at(t + 10, 1), "never forward");
        w.fresh(&id_at(t + 95, 1));
        assert_eq!(w.high(), id_at(t + 95, 1), "new rows do");
    }

    #[test]
    fn skipping_moves_new_reads_forward_only() {
        let t = 1_764_000_000_000;
        let mut w = Window::new(1_000, t);
        w.fresh(&id_at(t + 5_000, 1));
        w.skip_to(t + 100);
        assert_eq!(w.high(), id_at(t + 5_000, 1));
        w.skip_to(t + 9_000);
        assert_eq!(w.high(), floor_id(t + 9_000));
        assert_eq!(w.remembered(), 0);
    }
}
