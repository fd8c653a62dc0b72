//! Reconcile planning: desired (deploy state, groups' desired counts, targets) against observed
//! (appliances and what the hypervisor reports of their domains) → a list of actions. Pure and
//! table-tested; `execute` carries the actions out.

use common::{ApplianceId, ApplianceState, GroupId};
use std::collections::HashMap;
use std::time::Duration;
use store::Target;

/// A group as the plan sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    pub id: GroupId,
    pub desired: u32,
    pub service_ensure: bool,
}

/// What the hypervisor says of an appliance's domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainObs {
    Running,
    ShutOff,
    Crashed,
    /// The host answers and has no such domain.
    Missing,
    /// The host did not answer: nothing is known.
    Unknown,
    /// The appliance has no host.
    NoHost,
}

/// An appliance as the plan sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub id: ApplianceId,
    pub group: GroupId,
    pub state: ApplianceState,
    pub target: Target,
    /// Time in the current state.
    pub state_age: Duration,
    /// Time since the last heartbeat (None: never).
    pub heartbeat_age: Option<Duration>,
    pub domain: DomainObs,
    /// Whether it ever got a host (a failed placement did not).
    pub placed: bool,
}

/// How long each step may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From domain start to the agent's announcement.
    pub boot: Duration,
    pub configure: Duration,
    /// Heartbeat silence after which a running appliance is considered down.
    pub heartbeat: Duration,
    /// From the shutdown request to a forced power-off.
    pub stop: Duration,
    /// How long an appliance that could not be placed waits before ServiceEnsure tries again.
    pub placement_retry: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            boot: Duration::from_secs(300),
            configure: Duration::from_secs(900),
            heartbeat: Duration::from_secs(20),
            stop: Duration::from_secs(60),
            placement_retry: Duration::from_secs(60),
        }
    }
}

/// One step toward the desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Record `count` new appliances of the group (state pending).
    Create { group: GroupId, count: u32 },
    /// Choose a host (pending/placing → creating, or → failed when nothing fits).
    Place(ApplianceId),
    /// Define and start the domain (creating → booting).
    Boot(ApplianceId),
    /// The appliance is dead: power off what is left (→ failed).
    Fail(ApplianceId, String),
    /// Remove the domain and its disk (→ terminated).
    Terminate(ApplianceId, String),
    /// Ask the guest to shut down (running → stopping).
    Stop(ApplianceId),
    /// Power off after the guest did not stop in time, or record that it did (stopping → stopped).
    Stopped(ApplianceId, bool),
    /// Start a stopped appliance (stopped → booting).
    Start(ApplianceId),
    /// Power-cycle (running → booting).
    Reboot(ApplianceId),
}

/// How soon an excess appliance should go when a group shrinks: the least advanced first.
fn removal_rank(s: ApplianceState) -> u8 {
    use ApplianceState::*;
    match s {
        Failed | Lost => 0,
        Pending => 1,
        Placing => 2,
        Creating => 3,
        Booting => 4,
        Configuring => 5,
        Stopped => 6,
        Stopping => 7,
        Running => 8,
        Terminated => 9,
    }
}

/// Plan the next steps for one application.
pub fn plan(
    deployed: bool,
    groups: &[GroupSpec],
    observed: &[Observed],
    t: &Timeouts,
) -> Vec<Action> {
    use ApplianceState::*;
    let mut actions = Vec::new();
    let by_group: HashMap<GroupId, &GroupSpec> = groups.iter().map(|g| (g.id, g)).collect();
    // appliances that stay (not terminated by this plan), per group
    let mut staying: HashMap<GroupId, Vec<&Observed>> = HashMap::new();

    for o in observed.iter().filter(|o| o.state != Terminated) {
        let group = by_group.get(&o.group);
        let reason = if !deployed {
            Some("application undeployed")
        } else if group.is_none() {
            Some("group removed")
        } else if o.target == Target::Terminate {
            Some("terminated on request")
        } else if o.state == Failed && !o.placed {
            // placement failed: retried (by a fresh appliance) after a pause, not in a hot loop
            (group.is_some_and(|g| g.service_ensure) && o.state_age > t.placement_retry)
                .then_some("placement retried by ServiceEnsure")
        } else if matches!(o.state, Failed | Lost) && group.is_some_and(|g| g.service_ensure) {
            Some(if o.state == Lost {
                "replaced by ServiceEnsure: host lost"
            } else {
                "replaced by ServiceEnsure: failed"
            })
        } else {
            None
        };
        if let Some(r) = reason {
            actions.push(Action::Terminate(o.id, r.into()));
            continue;
        }
        staying.entry(o.group).or_default().push(o);
        let dead = matches!(
            o.domain,
            DomainObs::Crashed | DomainObs::Missing | DomainObs::ShutOff
        );
        match o.state {
            Pending | Placing => actions.push(Action::Place(o.id)),
            Creating => actions.push(Action::Boot(o.id)),
            Booting if dead => actions.push(Action::Fail(
                o.id,
                "the domain stopped while booting".into(),
            )),
            Booting if o.state_age > t.boot => actions.push(Action::Fail(
                o.id,
                format!(
                    "the agent did not announce itself within {} s",
                    t.boot.as_secs()
                ),
            )),
            Configuring if dead => actions.push(Action::Fail(
                o.id,
                "the domain stopped while configuring".into(),
            )),
            Configuring if o.state_age > t.configure => actions.push(Action::Fail(
                o.id,
                format!("configuration took longer than {} s", t.configure.as_secs()),
            )),
            Running if dead => {
                actions.push(Action::Fail(o.id, "the domain stopped unexpectedly".into()))
            }
            Running
                if o.heartbeat_age.is_some_and(|h| h > t.heartbeat)
                    && o.domain != DomainObs::Unknown =>
            {
                actions.push(Action::Fail(
                    o.id,
                    format!("no heartbeat for {} s", t.heartbeat.as_secs()),
                ))
            }
            Running if o.target == Target::Stop => actions.push(Action::Stop(o.id)),
            Running if o.target == Target::Reboot => actions.push(Action::Reboot(o.id)),
            Stopping if matches!(o.domain, DomainObs::ShutOff | DomainObs::Missing) => {
                actions.push(Action::Stopped(o.id, false))
            }
            Stopping if o.state_age > t.stop => actions.push(Action::Stopped(o.id, true)),
            Stopped if matches!(o.target, Target::Run | Target::Reboot) => {
                actions.push(Action::Start(o.id))
            }
            _ => {}
        }
    }

    if !deployed {
        return actions;
    }
    for g in groups {
        let mut members: Vec<&Observed> = staying
            .remove(&g.id)
            .unwrap_or_default()
            .into_iter()
            .filter(|o| {
                o.state.is_live()
                    || ((!g.service_ensure || !o.placed) && matches!(o.state, Failed | Lost))
            })
            .collect();
        let have = u32::try_from(members.len()).unwrap_or(u32::MAX);
        if have < g.desired {
            actions.push(Action::Create {
                group: g.id,
                count: g.desired - have,
            });
        } else if have > g.desired {
            // the least advanced first, then the newest
            members.sort_by(|a, b| {
                removal_rank(a.state)
                    .cmp(&removal_rank(b.state))
                    .then(b.id.cmp(&a.id))
            });
            for o in members.into_iter().take((have - g.desired) as usize) {
                actions.retain(|a| !matches!(a, Action::Place(i) | Action::Boot(i) | Action::Fail(i, _) | Action::Stop(i) | Action::Start(i) | Action::Reboot(i) | Action::Stopped(i, _) if *i == o.id));
                actions.push(Action::Terminate(o.id, "group scaled in".into()));
            }
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplianceState::*;
    use uuid::Uuid;

    const G: GroupId = GroupId(Uuid::from_u128(1));
    const H: GroupId = GroupId(Uuid::from_u128(2));

    fn a(n: u128) -> ApplianceId {
        ApplianceId(Uuid::from_u128(1000 + n))
    }

    fn obs(n: u128, state: ApplianceState, domain: DomainObs) -> Observed {
        Observed {
            id: a(n),
            group: G,
            state,
            target: Target::Run,
            state_age: Duration::from_secs(1),
            heartbeat_age: Some(Duration::from_secs(1)),
            domain,
            placed: true,
        }
    }

    fn group(desired: u32, ensure: bool) -> Vec<GroupSpec> {
        vec![GroupSpec {
            id: G,
            desired,
            service_ensure: ensure,
        }]
    }

    fn run(deployed: bool, groups: Vec<GroupSpec>, observed: Vec<Observed>) -> Vec<Action> {
        plan(deployed, &groups, &observed, &Timeouts::default())
    }

    #[test]
    fn scaling() {
        use DomainObs::Running as R;
        /// (what, deployed, groups, observed, expected actions)
        type Case<'a> = (&'a str, bool, Vec<GroupSpec>, Vec<Observed>, Vec<Action>);
        let table: Vec<Case> = vec![
            (
                "empty group grows",
                true,
                group(3, true),
                vec![],
                vec![Action::Create { group: G, count: 3 }],
            ),
            (
                "steady state does nothing",
                true,
                group(2, true),
                vec![obs(1, Running, R), obs(2, Running, R)],
                vec![],
            ),
            (
                "in-flight appliances count and progress",
                true,
                group(3, true),
                vec![
                    obs(1, Pending, DomainObs::NoHost),
                    obs(2, Creating, DomainObs::Missing),
                    obs(3, Running, R),
                ],
                vec![Action::Place(a(1)), Action::Boot(a(2))],
            ),
            (
                "shrink removes the least advanced, then the newest",
                true,
                group(2, true),
                vec![
                    obs(1, Running, R),
                    obs(2, Running, R),
                    obs(3, Running, R),
                    obs(4, Pending, DomainObs::NoHost),
                    obs(5, Running, R),
                ],
                vec![
                    Action::Terminate(a(4), "group scaled in".into()),
                    Action::Terminate(a(5), "group scaled in".into()),
                    Action::Terminate(a(3), "group scaled in".into()),
                ],
            ),
            (
                "a shrinking group does not also place what it removes",
                true,
                group(1, true),
                vec![obs(1, Running, R), obs(2, Pending, DomainObs::NoHost)],
                vec![Action::Terminate(a(2), "group scaled in".into())],
            ),
            (
                "undeploy terminates everything",
                false,
                group(2, true),
                vec![obs(1, Running, R), obs(2, Failed, DomainObs::NoHost)],
                vec![
                    Action::Terminate(a(1), "application undeployed".into()),
                    Action::Terminate(a(2), "application undeployed".into()),
                ],
            ),
            (
                "undeploy of nothing does nothing",
                false,
                group(2, true),
                vec![],
                vec![],
            ),
        ];
        for (what, deployed, groups, observed, want) in table {
            assert_eq!(run(deployed, groups, observed), want, "{what}");
        }
    }

    #[test]
    fn failures_and_service_ensure() {
        use DomainObs::*;
        // a crashed running appliance fails
        assert_eq!(
            run(
                true,
                group(1, true),
                vec![obs(1, ApplianceState::Running, Crashed)]
            ),
            vec![Action::Fail(a(1), "the domain stopped unexpectedly".into())]
        );
        // ServiceEnsure on: failed and lost appliances are replaced
        assert_eq!(
            run(
                true,
                group(2, true),
                vec![obs(1, Failed, NoHost), obs(2, Lost, Unknown)]
            ),
            vec![
                Action::Terminate(a(1), "replaced by ServiceEnsure: failed".into()),
                Action::Terminate(a(2), "replaced by ServiceEnsure: host lost".into()),
                Action::Create { group: G, count: 2 },
            ]
        );
        // a failed placement keeps its slot until the retry pause is over
        let mut unplaced = obs(3, Failed, NoHost);
        unplaced.placed = false;
        assert_eq!(run(true, group(1, true), vec![unplaced.clone()]), vec![]);
        unplaced.state_age = Timeouts::default().placement_retry + Duration::from_secs(1);
        assert_eq!(
            run(true, group(1, true), vec![unplaced]),
            vec![
                Action::Terminate(a(3), "placement retried by ServiceEnsure".into()),
                Action::Create { group: G, count: 1 }
            ]
        );
        // ServiceEnsure off: they keep their slot
        assert_eq!(
            run(
                true,
                group(2, false),
                vec![obs(1, Failed, NoHost), obs(2, Lost, Unknown)]
            ),
            vec![]
        );
        // an unreachable host tells nothing: no failure is declared from it
        assert_eq!(
            run(
                true,
                group(1, true),
                vec![obs(1, ApplianceState::Running, Unknown)]
            ),
            vec![]
        );
    }

    #[test]
    fn timeouts() {
        let t = Timeouts::default();
        let mut booting = obs(1, Booting, DomainObs::Running);
        booting.state_age = t.boot + Duration::from_secs(1);
        assert!(matches!(
            run(true, group(1, true), vec![booting])[0],
            Action::Fail(..)
        ));
        let mut silent = obs(1, ApplianceState::Running, DomainObs::Running);
        silent.heartbeat_age = Some(t.heartbeat + Duration::from_secs(1));
        assert_eq!(
            run(true, group(1, true), vec![silent]),
            vec![Action::Fail(a(1), "no heartbeat for 20 s".into())]
        );
        let mut stopping = obs(1, Stopping, DomainObs::Running);
        stopping.state_age = t.stop + Duration::from_secs(1);
        assert_eq!(
            run(true, group(1, true), vec![stopping]),
            vec![Action::Stopped(a(1), true)]
        );
    }

    #[test]
    fn targets() {
        use DomainObs::*;
        let with = |state, target, domain| {
            let mut o = obs(1, state, domain);
            o.target = target;
            o
        };
        let table = vec![
            (
                with(ApplianceState::Running, Target::Stop, Running),
                vec![Action::Stop(a(1))],
            ),
            (
                with(Stopping, Target::Stop, ShutOff),
                vec![Action::Stopped(a(1), false)],
            ),
            (with(Stopped, Target::Stop, ShutOff), vec![]),
            (
                with(Stopped, Target::Run, ShutOff),
                vec![Action::Start(a(1))],
            ),
            (
                with(ApplianceState::Running, Target::Reboot, Running),
                vec![Action::Reboot(a(1))],
            ),
            (
                with(ApplianceState::Running, Target::Terminate, Running),
                vec![
                    Action::Terminate(a(1), "terminated on request".into()),
                    Action::Create { group: G, count: 1 },
                ],
            ),
        ];
        for (o, want) in table {
            assert_eq!(run(true, group(1, true), vec![o.clone()]), want, "{o:?}");
        }
    }

    #[test]
    fn groups_are_independent_and_removed_groups_are_emptied() {
        let mut other = obs(2, ApplianceState::Running, DomainObs::Running);
        other.group = H;
        let got = run(
            true,
            group(1, true),
            vec![obs(1, ApplianceState::Running, DomainObs::Running), other],
        );
        assert_eq!(got, vec![Action::Terminate(a(2), "group removed".into())]);
    }
}
