//! `metric.threshold` conditions (pure): a window of an appliance's samples of one metric, its
//! aggregate (avg, max, min, p95), and whether the condition has held long enough to fire.
//!
//! Semantics: the condition holds when the window has samples and `aggregate comparator threshold`;
//! it fires once when it has held for `for_secs`, and fires again only after it stopped holding
//! (edge-triggered, so a metric hovering around the threshold does not fire at every sample). A
//! window without samples (missing data) does not hold: it resets the hold.

use chrono::{DateTime, Duration, Utc};
use common::agent::MetricsReport;
use common::api::{Aggregate, Condition};
use std::collections::VecDeque;

/// The value of `metric` in a report: `cpu_pct`, `load1`, `mem_used_pct`, or a custom metric.
pub fn value_of(report: &MetricsReport, metric: &str) -> Option<f64> {
    match metric {
        "cpu_pct" => Some(report.cpu_pct),
        "load1" => Some(report.load1),
        "mem_used_pct" if report.mem_total_mib > 0 => {
            Some(report.mem_used_mib as f64 * 100.0 / report.mem_total_mib as f64)
        }
        "mem_used_pct" => None,
        other => report.custom.get(other).copied(),
    }
}

/// The samples of one metric of one appliance, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Window {
    samples: VecDeque<(DateTime<Utc>, f64)>,
}

impl Window {
    /// Add a sample (one not newer than the last is ignored: a report seen twice).
    pub fn push(&mut self, at: DateTime<Utc>, value: f64) {
        if self.samples.back().is_none_or(|(t, _)| at > *t) && value.is_finite() {
            self.samples.push_back((at, value));
        }
    }

    /// Forget samples older than `window_secs` before `now`.
    pub fn prune(&mut self, now: DateTime<Utc>, window_secs: u32) {
        let from = now - Duration::seconds(i64::from(window_secs));
        while self.samples.front().is_some_and(|(t, _)| *t < from) {
            self.samples.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The aggregate of the samples in the window ending at `now` (none without samples).
    pub fn aggregate(
        &self,
        aggregate: Aggregate,
        now: DateTime<Utc>,
        window_secs: u32,
    ) -> Option<f64> {
        let from = now - Duration::seconds(i64::from(window_secs));
        let values = self
            .samples
            .iter()
            .filter(|(t, _)| *t >= from && *t <= now)
            .map(|(_, v)| *v);
        match aggregate {
            Aggregate::Avg => {
                let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                (n > 0).then(|| sum / n as f64)
            }
            Aggregate::Max => values.reduce(f64::max),
            Aggregate::Min => values.reduce(f64::min),
            Aggregate::P95 => {
                let mut all: Vec<f64> = values.collect();
                if all.is_empty() {
                    return None;
                }
                all.sort_by(f64::total_cmp);
                // nearest rank
                let rank = ((0.95 * all.len() as f64).ceil() as usize).clamp(1, all.len());
                Some(all[rank - 1])
            }
        }
    }
}

/// How long the condition has held, and whether it fired for this holding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hold {
    pub since: Option<DateTime<Utc>>,
    pub fired: bool,
}

/// Evaluate a condition on the window's aggregate at `now`; returns the value when it fires.
pub fn evaluate(
    hold: &mut Hold,
    window: &Window,
    cond: &Condition,
    now: DateTime<Utc>,
) -> Option<f64> {
    let value = window.aggregate(cond.aggregate, now, cond.window_secs);
    let holds = value.is_some_and(|v| cond.comparator.holds(v, cond.threshold));
    if !holds {
        *hold = Hold::default();
        return None;
    }
    let since = *hold.since.get_or_insert(now);
    if !hold.fired && now - since >= Duration::seconds(i64::from(cond.for_secs)) {
        hold.fired = true;
        return value;
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use common::api::Comparator;

    fn cond(aggregate: Aggregate, window_secs: u32, threshold: f64, for_secs: u32) -> Condition {
        Condition {
            metric: "cpu_pct".into(),
            aggregate,
            window_secs,
            comparator: Comparator::Gt,
            threshold,
            for_secs,
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Feed (second, value) samples, evaluating at each second `0..=until`; the seconds it fired.
    fn fired_at(c: &Condition, samples: &[(i64, f64)], until: i64) -> Vec<i64> {
        let (mut w, mut h, mut out) = (Window::default(), Hold::default(), Vec::new());
        for s in 0..=until {
            let now = t0() + Duration::seconds(s);
            for (at, v) in samples.iter().filter(|(at, _)| *at == s) {
                w.push(t0() + Duration::seconds(*at), *v);
            }
            w.prune(now, c.window_secs);
            if evaluate(&mut h, &w, c, now).is_some() {
                out.push(s);
            }
        }
        out
    }

    #[test]
    fn conditions_fire_after_holding_for_their_duration_once_per_crossing() {
        let high = |from: i64, to: i64| (from..=to).map(|s| (s, 90.0)).collect::<Vec<_>>();
        // (what, condition, samples (second, value), evaluated until, the seconds it fires at)
        type Case = (&'static str, Condition, Vec<(i64, f64)>, i64, Vec<i64>);
        let table: Vec<Case> = vec![
            (
                "fires at once without a duration",
                cond(Aggregate::Avg, 10, 80.0, 0),
                high(0, 5),
                5,
                vec![0],
            ),
            (
                "fires after holding 3 s",
                cond(Aggregate::Avg, 1, 80.0, 3),
                high(0, 10),
                10,
                vec![3],
            ),
            (
                "does not fire when it stops holding before",
                cond(Aggregate::Avg, 1, 80.0, 5),
                [high(0, 3), vec![(4, 10.0), (5, 10.0)], high(6, 9)].concat(),
                9,
                vec![],
            ),
            (
                "flapping around the threshold fires once per crossing held long enough",
                cond(Aggregate::Max, 1, 80.0, 2),
                [high(0, 4), vec![(5, 10.0), (6, 10.0)], high(7, 12)].concat(),
                12,
                vec![2, 9],
            ),
            // the samples of 0..=2 leave the 2 s window at 5, before the 5 s are up
            (
                "missing data resets the hold",
                cond(Aggregate::Avg, 2, 80.0, 5),
                [high(0, 2), high(7, 12)].concat(),
                12,
                vec![12],
            ),
            (
                "an average over the window needs the window above",
                cond(Aggregate::Avg, 4, 50.0, 0),
                vec![(0, 0.0), (1, 0.0), (2, 100.0), (3, 100.0), (4, 100.0)],
                4,
                vec![4],
            ),
            (
                "never above: never fires",
                cond(Aggregate::Max, 5, 95.0, 0),
                high(0, 10),
                10,
                vec![],
            ),
        ];
        for (what, c, samples, until, want) in table {
            assert_eq!(fired_at(&c, &samples, until), want, "{what}");
        }
    }

    #[test]
    fn aggregates_over_the_window() {
        let mut w = Window::default();
        for (s, v) in [(0, 10.0), (1, 20.0), (2, 30.0), (3, 40.0), (4, 1000.0)] {
            w.push(t0() + Duration::seconds(s), v);
        }
        let now = t0() + Duration::seconds(4);
        assert_eq!(w.aggregate(Aggregate::Avg, now, 10), Some(220.0));
        assert_eq!(w.aggregate(Aggregate::Max, now, 10), Some(1000.0));
        assert_eq!(w.aggregate(Aggregate::Min, now, 1), Some(40.0));
        assert_eq!(w.aggregate(Aggregate::P95, now, 10), Some(1000.0));
        assert_eq!(
            w.aggregate(Aggregate::Avg, now + Duration::seconds(60), 10),
            None
        );
        // a report seen twice, or out of order, is one sample
        w.push(t0() + Duration::seconds(4), 5.0);
        w.push(t0() + Duration::seconds(2), 5.0);
        assert_eq!(w.len(), 5);
        w.prune(now, 1);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn metrics_are_read_from_reports() {
        let mut r = MetricsReport {
            cpu_pct: 42.0,
            load1: 1.5,
            mem_used_mib: 512,
            mem_total_mib: 2048,
            ..Default::default()
        };
        r.custom.insert("rps".into(), 120.0);
        assert_eq!(value_of(&r, "cpu_pct"), Some(42.0));
        assert_eq!(value_of(&r, "mem_used_pct"), Some(25.0));
        assert_eq!(value_of(&r, "rps"), Some(120.0));
        assert_eq!(value_of(&r, "nope"), None);
        r.mem_total_mib = 0;
        assert_eq!(value_of(&r, "mem_used_pct"), None);
    }
}
