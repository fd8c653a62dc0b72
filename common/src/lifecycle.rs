//! Appliance and host states, and the appliance state machine: which transitions are legal.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::roles::UnknownVariant;

/// The life of one appliance (one VM).
///
/// `pending → placing → creating → booting → configuring → running`, plus `stopping`, `stopped`,
/// `failed`, `lost` and the final `terminated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApplianceState {
    /// Recorded, not yet placed.
    Pending,
    /// Looking for a host.
    Placing,
    /// A host is chosen; the domain is being defined and started.
    Creating,
    /// The domain runs; waiting for the agent to announce itself.
    Booting,
    /// The agent announced itself; install CloudScripts run.
    Configuring,
    Running,
    Stopping,
    Stopped,
    /// Could not be placed, created, booted or configured; or its domain died.
    Failed,
    /// Its host was lost.
    Lost,
    Terminated,
}

impl ApplianceState {
    pub const ALL: [ApplianceState; 11] = [
        Self::Pending,
        Self::Placing,
        Self::Creating,
        Self::Booting,
        Self::Configuring,
        Self::Running,
        Self::Stopping,
        Self::Stopped,
        Self::Failed,
        Self::Lost,
        Self::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Placing => "placing",
            Self::Creating => "creating",
            Self::Booting => "booting",
            Self::Configuring => "configuring",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Lost => "lost",
            Self::Terminated => "terminated",
        }
    }

    /// Whether `self → to` is a legal transition.
    pub fn can_become(self, to: ApplianceState) -> bool {
        use ApplianceState::*;
        if to == Terminated {
            return self != Terminated;
        }
        matches!(
            (self, to),
            (Pending, Placing)
                | (Placing, Creating)
                | (Placing, Failed)
                | (Creating, Booting)
                | (Creating, Failed)
                | (Creating, Lost)
                | (Booting, Configuring)
                | (Booting, Failed)
                | (Booting, Lost)
                | (Configuring, Running)
                | (Configuring, Failed)
                | (Configuring, Lost)
                | (Running, Stopping)
                | (Running, Booting)
                | (Running, Failed)
                | (Running, Lost)
                | (Stopping, Stopped)
                | (Stopping, Failed)
                | (Stopping, Lost)
                | (Stopped, Booting)
                | (Stopped, Lost)
                | (Lost, Running)
        )
    }

    /// Terminated is the only final state.
    pub fn is_final(self) -> bool {
        self == Self::Terminated
    }

    /// Whether a user may ask it to stop (`POST /appliances/{id}/stop`).
    pub fn may_stop(self) -> bool {
        use ApplianceState::*;
        matches!(self, Running | Booting | Configuring)
    }

    /// Whether a user may ask it to start again.
    pub fn may_start(self) -> bool {
        matches!(self, Self::Stopped | Self::Stopping)
    }

    /// Whether a user may ask it to reboot.
    pub fn may_reboot(self) -> bool {
        self == Self::Running
    }

    /// Whether a user may ask it to terminate.
    pub fn may_terminate(self) -> bool {
        self != Self::Terminated
    }

    /// Whether a domain may exist for the appliance on its host (it holds host resources).
    pub fn holds_host(self) -> bool {
        use ApplianceState::*;
        matches!(
            self,
            Creating | Booting | Configuring | Running | Stopping | Stopped
        )
    }

    /// Whether the appliance is healthy or on its way to it (counts toward a group's desired count
    /// even when ServiceEnsure is on).
    pub fn is_live(self) -> bool {
        use ApplianceState::*;
        matches!(
            self,
            Pending | Placing | Creating | Booting | Configuring | Running | Stopping | Stopped
        )
    }
}

impl fmt::Display for ApplianceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApplianceState {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                what: "appliance state",
                value: s.to_owned(),
            })
    }
}

/// A KVM host's state as the orchestrator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Answers; takes new appliances.
    Up,
    /// Missed liveness checks; takes nothing new; not yet given up.
    Suspect,
    /// Gave up: its appliances are lost.
    Down,
    /// Isolated on purpose (must not run anything).
    Fenced,
    /// Taken out by an operator: keeps what runs, takes nothing new.
    Maintenance,
}

impl HostState {
    pub const ALL: [HostState; 5] = [
        Self::Up,
        Self::Suspect,
        Self::Down,
        Self::Fenced,
        Self::Maintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Suspect => "suspect",
            Self::Down => "down",
            Self::Fenced => "fenced",
            Self::Maintenance => "maintenance",
        }
    }
}

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HostState {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                what: "host state",
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplianceState::*;

    #[test]
    fn the_happy_path_is_legal() {
        let path = [
            Pending,
            Placing,
            Creating,
            Booting,
            Configuring,
            Running,
            Stopping,
            Stopped,
            Booting,
        ];
        for w in path.windows(2) {
            assert!(w[0].can_become(w[1]), "{} → {}", w[0], w[1]);
        }
    }

    #[test]
    fn illegal_transitions_are_refused() {
        let illegal = [
            (Pending, Running),
            (Pending, Booting),
            (Placing, Running),
            (Creating, Running),
            (Booting, Running),
            (Running, Pending),
            (Running, Configuring),
            (Stopped, Running),
            (Failed, Running),
            (Failed, Pending),
            (Terminated, Pending),
            (Terminated, Terminated),
            (Lost, Booting),
        ];
        for (from, to) in illegal {
            assert!(!from.can_become(to), "{from} → {to} must be illegal");
        }
    }

    #[test]
    fn everything_but_terminated_can_terminate() {
        for s in ApplianceState::ALL {
            assert_eq!(s.can_become(Terminated), s != Terminated, "{s}");
        }
    }

    #[test]
    fn states_round_trip_as_text() {
        for s in ApplianceState::ALL {
            assert_eq!(s.as_str().parse::<ApplianceState>(), Ok(s));
        }
        for s in HostState::ALL {
            assert_eq!(s.as_str().parse::<HostState>(), Ok(s));
        }
        assert!("zombie".parse::<ApplianceState>().is_err());
    }
}
