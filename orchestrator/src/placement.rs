//! Placement: which host gets a new appliance. Pure and deterministic: filter (pool, state, capacity
//! with overcommit), then prefer hosts holding fewer appliances of the same group (anti-affinity), then
//! weigh (spread: most free memory left; pack: least), then the host id.

use common::api::{Capacity, Flavor, Overcommit, PlacementStrategy, Usage};
use common::{HostId, HostState, PoolId};
use std::collections::BTreeMap;
use std::fmt;

/// A host as placement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: HostId,
    pub pool_id: PoolId,
    pub state: HostState,
    pub capacity: Capacity,
    pub overcommit: Overcommit,
    pub used: Usage,
    /// Appliances of the same group already on the host.
    pub same_group: u32,
}

/// What is to be placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    pub flavor: Flavor,
    /// Only hosts of this pool (`None`: any pool).
    pub pool: Option<PoolId>,
    pub strategy: PlacementStrategy,
}

/// Why a host was not chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    OtherPool,
    NotUp,
    Cpu,
    Memory,
    Disk,
}

impl Rejection {
    fn words(self) -> &'static str {
        match self {
            Rejection::OtherPool => "in another pool",
            Rejection::NotUp => "not up",
            Rejection::Cpu => "short of vCPUs",
            Rejection::Memory => "short of memory",
            Rejection::Disk => "short of disk",
        }
    }
}

/// No host fits; says why, host by host category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoFit {
    pub need: Flavor,
    pub rejected: BTreeMap<Rejection, usize>,
}

impl fmt::Display for NoFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no host fits {} vCPU / {} MiB / {} GiB",
            self.need.vcpus, self.need.memory_mib, self.need.disk_gib
        )?;
        if self.rejected.is_empty() {
            return f.write_str(": there are no hosts");
        }
        let parts: Vec<String> = self
            .rejected
            .iter()
            .map(|(r, n)| format!("{n} {}", r.words()))
            .collect();
        write!(f, ": {}", parts.join(", "))
    }
}

/// The pool an appliance must run in: its template's (where its images are registered), which an
/// application pinned to a pool must agree with.
pub fn pool_for(template_pool: Option<PoolId>, app_pool: Option<PoolId>) -> Result<PoolId, String> {
    match (template_pool, app_pool) {
        (None, _) => Err("its template has no registered image, so it can run nowhere".into()),
        (Some(t), Some(a)) if t != a => Err(format!(
            "its template's images are registered in pool {t}, the application is pinned to pool {a}"
        )),
        (Some(t), _) => Ok(t),
    }
}

fn scaled(v: u32, pct: u32) -> u64 {
    u64::from(v) * u64::from(pct) / 100
}

fn check(need: &Need, c: &Candidate) -> Result<(), Rejection> {
    if need.pool.is_some_and(|p| p != c.pool_id) {
        return Err(Rejection::OtherPool);
    }
    if c.state != HostState::Up {
        return Err(Rejection::NotUp);
    }
    let fits = |used: u32, want: u32, cap: u32, pct: u32| {
        u64::from(used) + u64::from(want) <= scaled(cap, pct)
    };
    if !fits(
        c.used.vcpus,
        need.flavor.vcpus,
        c.capacity.vcpus,
        c.overcommit.cpu_pct,
    ) {
        return Err(Rejection::Cpu);
    }
    if !fits(
        c.used.memory_mib,
        need.flavor.memory_mib,
        c.capacity.memory_mib,
        c.overcommit.ram_pct,
    ) {
        return Err(Rejection::Memory);
    }
    if !fits(
        c.used.disk_gib,
        need.flavor.disk_gib,
        c.capacity.disk_gib,
        c.overcommit.disk_pct,
    ) {
        return Err(Rejection::Disk);
    }
    Ok(())
}

/// Free memory left after placing, in per-mille of the host's (overcommitted) memory.
fn free_after(need: &Need, c: &Candidate) -> u64 {
    let cap = scaled(c.capacity.memory_mib, c.overcommit.ram_pct).max(1);
    let used = u64::from(c.used.memory_mib) + u64::from(need.flavor.memory_mib);
    cap.saturating_sub(used) * 1000 / cap
}

/// Choose a host for `need`.
pub fn place(need: &Need, candidates: &[Candidate]) -> Result<HostId, NoFit> {
    let mut rejected = BTreeMap::new();
    let mut fitting = Vec::new();
    for c in candidates {
        match check(need, c) {
            Ok(()) => fitting.push(c),
            Err(r) => *rejected.entry(r).or_insert(0) += 1,
        }
    }
    let best = fitting.into_iter().min_by(|a, b| {
        let weigh = |c: &Candidate| match need.strategy {
            PlacementStrategy::Spread => u64::MAX - free_after(need, c),
            PlacementStrategy::Pack => free_after(need, c),
        };
        (a.same_group, weigh(a), a.id).cmp(&(b.same_group, weigh(b), b.id))
    });
    best.map(|c| c.id).ok_or(NoFit {
        need: need.flavor,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u128) -> HostId {
        HostId(Uuid::from_u128(n))
    }
    const POOL_A: PoolId = PoolId(Uuid::from_u128(100));
    const POOL_B: PoolId = PoolId(Uuid::from_u128(200));

    fn host(n: u128, used_mem: u32, same_group: u32) -> Candidate {
        Candidate {
            id: id(n),
            pool_id: POOL_A,
            state: HostState::Up,
            capacity: Capacity {
                vcpus: 8,
                memory_mib: 16_384,
                disk_gib: 500,
            },
            overcommit: Overcommit {
                cpu_pct: 400,
                ram_pct: 100,
                disk_pct: 100,
            },
            used: Usage {
                vcpus: 0,
                memory_mib: used_mem,
                disk_gib: 0,
            },
            same_group,
        }
    }

    fn need(mem: u32, strategy: PlacementStrategy) -> Need {
        Need {
            flavor: Flavor {
                vcpus: 2,
                memory_mib: mem,
                disk_gib: 20,
            },
            pool: None,
            strategy,
        }
    }

    #[test]
    fn strategies_and_anti_affinity() {
        use PlacementStrategy::*;
        // (hosts, need, expected host)
        let table: Vec<(Vec<Candidate>, Need, Option<u128>)> = vec![
            // spread: the emptiest host
            (
                vec![host(1, 8192, 0), host(2, 1024, 0), host(3, 4096, 0)],
                need(1024, Spread),
                Some(2),
            ),
            // pack: the fullest host that still fits
            (
                vec![host(1, 8192, 0), host(2, 1024, 0), host(3, 15_500, 0)],
                need(1024, Pack),
                Some(1),
            ),
            (
                vec![host(1, 8192, 0), host(2, 1024, 0), host(3, 15_000, 0)],
                need(1024, Pack),
                Some(3),
            ),
            // anti-affinity beats the weight
            (
                vec![host(1, 0, 2), host(2, 8192, 0)],
                need(1024, Spread),
                Some(2),
            ),
            (
                vec![host(1, 0, 1), host(2, 8192, 1), host(3, 12_000, 1)],
                need(1024, Spread),
                Some(1),
            ),
            // ties go to the lowest id: deterministic
            (
                vec![host(3, 0, 0), host(2, 0, 0)],
                need(1024, Spread),
                Some(2),
            ),
            // exactly full fits; one more MiB does not
            (vec![host(1, 15_360, 0)], need(1024, Spread), Some(1)),
            (vec![host(1, 15_361, 0)], need(1024, Spread), None),
            (vec![], need(1024, Spread), None),
        ];
        for (i, (hosts, need, want)) in table.into_iter().enumerate() {
            assert_eq!(place(&need, &hosts).ok(), want.map(id), "case {i}");
        }
    }

    #[test]
    fn filters_and_explains() {
        let mut down = host(1, 0, 0);
        down.state = HostState::Down;
        let mut maint = host(2, 0, 0);
        maint.state = HostState::Maintenance;
        let full = host(3, 16_000, 0);
        let mut cpu = host(4, 0, 0);
        cpu.used.vcpus = 31;
        let mut other = host(5, 0, 0);
        other.pool_id = POOL_B;
        let mut disk = host(6, 0, 0);
        disk.used.disk_gib = 490;
        let mut n = need(1024, PlacementStrategy::Spread);
        n.pool = Some(POOL_A);
        let err = place(&n, &[down, maint, full, cpu, other, disk]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no host fits 2 vCPU / 1024 MiB / 20 GiB: 1 in another pool, 2 not up, 1 short of vCPUs, 1 short of memory, 1 short of disk"
        );
        assert_eq!(
            place(&n, &[]).unwrap_err().to_string(),
            "no host fits 2 vCPU / 1024 MiB / 20 GiB: there are no hosts"
        );
    }

    #[test]
    fn cpu_overcommit_counts() {
        let mut h = host(1, 0, 0);
        h.used.vcpus = 30; // 8 physical × 400 % = 32 virtual
        assert!(place(&need(1024, PlacementStrategy::Spread), &[h.clone()]).is_ok());
        h.used.vcpus = 31;
        assert!(place(&need(1024, PlacementStrategy::Spread), &[h]).is_err());
    }

    #[test]
    fn the_pool_is_the_templates_and_a_pinned_application_must_agree() {
        let (a, b) = (PoolId::new(), PoolId::new());
        let table = [
            (Some(a), None, Ok(a)),
            (Some(a), Some(a), Ok(a)),
            (Some(a), Some(b), Err("pinned")),
            (None, Some(a), Err("no registered image")),
            (None, None, Err("no registered image")),
        ];
        for (t, app, want) in table {
            match (pool_for(t, app), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w),
                (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
                (got, w) => panic!("{t:?} {app:?}: {got:?} vs {w:?}"),
            }
        }
    }
}
