//! How runs, steps, jobs and appliances read: status words and badge classes, durations, and whether a
//! list still has work under way (the runs page refreshes while it does).

use chrono::{DateTime, Utc};
use common::ApplianceState;
use common::api::{JobStatus, RunResponse, RunStatus, StepStatus};

/// A badge: its words and its class.
pub type Badge = (&'static str, &'static str);

pub fn run_badge(s: RunStatus) -> Badge {
    match s {
        RunStatus::Pending => ("pending", "status-pending"),
        RunStatus::Running => ("running", "status-running"),
        RunStatus::Succeeded => ("succeeded", "status-active"),
        RunStatus::Failed => ("failed", "status-suspended"),
    }
}

pub fn step_badge(s: StepStatus) -> Badge {
    match s {
        StepStatus::Pending => ("pending", "status-pending"),
        StepStatus::Running => ("running", "status-running"),
        StepStatus::Succeeded => ("succeeded", "status-active"),
        StepStatus::Failed => ("failed", "status-suspended"),
        StepStatus::Skipped => ("skipped", "status-pending"),
    }
}

pub fn job_badge(s: JobStatus) -> Badge {
    match s {
        JobStatus::Queued => ("queued", "status-pending"),
        JobStatus::Running => ("running", "status-running"),
        JobStatus::Succeeded => ("succeeded", "status-active"),
        JobStatus::Failed => ("failed", "status-suspended"),
        JobStatus::TimedOut => ("timed out", "status-suspended"),
        JobStatus::Cancelled => ("cancelled", "status-pending"),
    }
}

pub fn appliance_badge(s: ApplianceState) -> Badge {
    use ApplianceState as A;
    match s {
        A::Running => ("running", "status-active"),
        A::Failed | A::Lost => (s.as_str(), "status-suspended"),
        A::Stopped | A::Terminated => (s.as_str(), "status-pending"),
        _ => (s.as_str(), "status-running"),
    }
}

/// Whether the run is still pending or running.
pub fn is_open(r: &RunResponse) -> bool {
    matches!(r.status, RunStatus::Pending | RunStatus::Running)
}

/// How long something took (or has taken until `now`): "850 ms", "12.3 s", "4 min 5 s", "2 h 3 min".
pub fn duration(start: DateTime<Utc>, end: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let ms = (end.unwrap_or(now) - start).num_milliseconds().max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000)
    } else {
        format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        let t = Utc::now();
        let table = [
            (TimeDelta::milliseconds(850), "850 ms"),
            (TimeDelta::milliseconds(12_340), "12.3 s"),
            (TimeDelta::seconds(245), "4 min 5 s"),
            (TimeDelta::seconds(2 * 3600 + 180), "2 h 3 min"),
            (TimeDelta::seconds(-5), "0 ms"),
        ];
        for (d, want) in table {
            assert_eq!(duration(t, Some(t + d), t), want);
        }
        assert_eq!(duration(t, None, t + TimeDelta::seconds(3)), "3.0 s");
    }

    #[test]
    fn badges() {
        assert_eq!(run_badge(RunStatus::Failed).0, "failed");
        assert_eq!(job_badge(JobStatus::TimedOut).0, "timed out");
        assert_eq!(appliance_badge(ApplianceState::Running).1, "status-active");
        assert_eq!(appliance_badge(ApplianceState::Booting).0, "booting");
        assert_eq!(step_badge(StepStatus::Skipped).1, "status-pending");
    }
}
