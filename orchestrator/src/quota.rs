//! Tenant quotas: what a tenant's deployed applications would hold, against its limits. The
//! arithmetic is pure; [`over_quota`] gathers the demand from the store (the API and the automation
//! engine's `scale` steps check the same way).

use common::api::Quotas;
use common::{ApplicationId, GroupId, TenantId};
use std::collections::HashMap;
use store::repo::{applications, tenants, unscoped};
use store::{DbConn, StoreError};

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

/// The first quota the tenant's deployed groups would exceed with `desired` overriding groups'
/// desired counts (`deploying`: an application counted as deployed though it is not yet). The
/// caller holds the tenant's row lock, so concurrent changes are checked one after another.
pub fn over_quota(
    c: &mut DbConn,
    tenant: TenantId,
    desired: &HashMap<GroupId, u32>,
    deploying: Option<ApplicationId>,
) -> Result<Option<(&'static str, u64, u64)>, StoreError> {
    let Some(t) = tenants::get(c, tenant)? else {
        return Ok(None);
    };
    let mut ids = applications::deployed_of_tenant(c, tenant)?;
    if let Some(d) = deploying
        && !ids.contains(&d)
    {
        ids.push(d);
    }
    let mut demand = Demand::default();
    let mut flavors = HashMap::new();
    for app in ids {
        for g in unscoped::applications::groups(c, app)? {
            let flavor = match flavors.get(&g.template_id) {
                Some(f) => *f,
                None => {
                    let Some(f) = unscoped::templates::get(c, g.template_id)?.map(|t| t.flavor)
                    else {
                        continue;
                    };
                    flavors.insert(g.template_id, f);
                    f
                }
            };
            let count = desired.get(&g.id).copied().unwrap_or(g.size.desired);
            demand.add(count, flavor.vcpus, flavor.memory_mib);
        }
    }
    Ok(exceeded(&t.quotas, &demand))
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
