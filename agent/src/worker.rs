//! The job worker: runs the jobs the main loop hands over, one after another, and reports each result,
//! so a long script never delays a heartbeat.
//!
//! Guarantees: a job id is handed over at most once among the last [`RECENT_IDS`] (the orchestrator
//! lists a job until its result arrives); a result is reported with backoff (1 s doubling to 30 s) for
//! about [`GIVE_UP_AFTER`], then dropped; the worker stops when the appliance is revoked.
//! Assumptions: the orchestrator treats a result it already has (409) or a job it forgot (404) as done.

use crate::client::{CallError, Client};
use crate::jobs;
use common::agent::Job;
use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// How many job ids the main loop remembers.
pub const RECENT_IDS: usize = 1024;
/// How long a result is retried before it is dropped.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(600);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The last `cap` ids seen, oldest forgotten first.
#[derive(Debug)]
pub struct RecentIds {
    order: VecDeque<String>,
    seen: HashSet<String>,
    cap: usize,
}

impl RecentIds {
    pub fn new(cap: usize) -> Self {
        RecentIds {
            order: VecDeque::new(),
            seen: HashSet::new(),
            cap: cap.max(1),
        }
    }

    /// Remembers `id`; `false` when it was already among the recent ones.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Reported {
    Done,
    Revoked,
    GaveUp,
}

/// Calls `report` until it succeeds, the appliance is revoked, or [`GIVE_UP_AFTER`] has been slept.
pub fn report_with_backoff(
    mut report: impl FnMut() -> Result<(), CallError>,
    mut sleep: impl FnMut(Duration),
) -> Reported {
    let (mut backoff, mut slept) = (Duration::from_secs(1), Duration::ZERO);
    loop {
        match report() {
            Ok(()) => return Reported::Done,
            Err(CallError::Revoked) => return Reported::Revoked,
            Err(e) if slept >= GIVE_UP_AFTER => {
                eprintln!("scaleinfra-agent: giving up reporting a job result ({e:?})");
                return Reported::GaveUp;
            }
            Err(e) => {
                eprintln!(
                    "scaleinfra-agent: reporting a job result failed ({e:?}); retrying in {backoff:?}"
                );
                sleep(backoff);
                slept += backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Runs the jobs from `jobs` in order until the channel closes or the appliance is revoked.
pub fn work(client: &Client, jobs: Receiver<Job>, workdir: &Path) {
    for job in jobs {
        eprintln!("scaleinfra-agent: running job {:?}", job.id);
        let result = jobs::run(&job, workdir);
        eprintln!(
            "scaleinfra-agent: job {:?} ended (exit {:?}, timed out {}, {} ms)",
            job.id, result.exit_code, result.timed_out, result.duration_ms
        );
        let reported = report_with_backoff(|| client.report(&job.id, &result), std::thread::sleep);
        if reported == Reported::Revoked {
            eprintln!("scaleinfra-agent: the appliance is terminated; the job worker stops");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_skip_repeats_and_forget_the_oldest() {
        let mut recent = RecentIds::new(2);
        assert!(recent.insert("a") && recent.insert("b"));
        assert!(!recent.insert("a") && !recent.insert("b"));
        assert!(recent.insert("c"), "a new id pushes out the oldest");
        assert!(!recent.insert("b") && !recent.insert("c"));
        assert!(recent.insert("a"), "a was forgotten");
    }

    fn retry() -> Result<(), CallError> {
        Err(CallError::Retry("HTTP 503".into()))
    }

    #[test]
    fn reports_back_off_doubling_to_30_s_then_give_up() {
        let mut sleeps = Vec::new();
        let outcome = report_with_backoff(retry, |d| sleeps.push(d.as_secs()));
        assert_eq!(outcome, Reported::GaveUp);
        assert_eq!(sleeps[..7], [1, 2, 4, 8, 16, 30, 30]);
        let total: u64 = sleeps.iter().sum();
        assert!((600..630).contains(&total), "{total}");
    }

    #[test]
    fn reports_stop_on_success_or_revocation() {
        let mut calls = 0;
        let mut sleeps = 0;
        let outcome = report_with_backoff(
            || {
                calls += 1;
                if calls < 3 { retry() } else { Ok(()) }
            },
            |_| sleeps += 1,
        );
        assert_eq!((outcome, calls, sleeps), (Reported::Done, 3, 2));
        let mut sleeps = 0;
        let outcome = report_with_backoff(|| Err(CallError::Revoked), |_| sleeps += 1);
        assert_eq!((outcome, sleeps), (Reported::Revoked, 0));
    }
}
