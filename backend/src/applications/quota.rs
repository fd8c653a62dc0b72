//! Tenant quotas: what a tenant's deployed applications would hold, against its limits. Pure.

use common::api::Quotas;

/// Resources a tenant's deployed groups ask for at their desired counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    pub vcpus: u64,
    pub memory_mib: u64,
    pub appliances: u64,
}

impl Demand {
    pub fn add(&mut self, count: u32, vcpus: u32, memory_mib: u32) {
        let n = u64::from(count);
        self.vcpus += n * u64::from(vcpus);
        self.memory_mib += n * u64::from(memory_mib);
        self.appliances += n;
    }
}

/// The first quota the demand exceeds: (quota name, limit, demand).
pub fn exceeded(q: &Quotas, d: &Demand) -> Option<(&'static str, u64, u64)> {
    [
        ("max_vcpus", u64::from(q.max_vcpus), d.vcpus),
        ("max_memory_mib", u64::from(q.max_memory_mib), d.memory_mib),
        ("max_appliances", u64::from(q.max_appliances), d.appliances),
    ]
    .into_iter()
    .find(|(_, limit, want)| want > limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_checked_in_order() {
        let q = Quotas {
            max_vcpus: 8,
            max_memory_mib: 8192,
            max_appliances: 4,
        };
        let demand = |count, vcpus, mem| {
            let mut d = Demand::default();
            d.add(count, vcpus, mem);
            d
        };
        let table = [
            (demand(4, 2, 2048), None),
            (demand(5, 1, 1024), Some(("max_appliances", 4, 5))),
            (demand(3, 3, 1024), Some(("max_vcpus", 8, 9))),
            (demand(2, 1, 5000), Some(("max_memory_mib", 8192, 10_000))),
            (Demand::default(), None),
        ];
        for (d, want) in table {
            assert_eq!(exceeded(&q, &d), want, "{d:?}");
        }
    }
}
