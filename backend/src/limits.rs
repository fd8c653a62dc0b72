//! Caps on how many objects a tenant may hold (projects, applications, templates, CloudScripts) and
//! on the size of one application (layers, groups, event rules), so that no tenant can grow the database or an application's
//! reconcile without bound. Checked under the tenant's row lock, so two creations cannot both slip
//! under a cap.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

/// The caps (configuration key `limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub projects_per_tenant: u32,
    pub applications_per_tenant: u32,
    pub templates_per_tenant: u32,
    pub layers_per_application: u32,
    pub groups_per_application: u32,
    pub scripts_per_tenant: u32,
    pub rules_per_application: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            projects_per_tenant: 500,
            applications_per_tenant: 2000,
            templates_per_tenant: 200,
            layers_per_application: 20,
            groups_per_application: 100,
            scripts_per_tenant: 500,
            rules_per_application: 50,
        }
    }
}

/// Refuse to create one more `what` when `count` already reach `cap`.
pub fn check(what: &'static str, count: i64, cap: u32) -> ApiResult<()> {
    if count >= i64::from(cap) {
        return Err(ApiError::Limit {
            what,
            limit: u64::from(cap),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_admits_up_to_itself() {
        assert!(check("projects", 0, 2).is_ok());
        assert!(check("projects", 1, 2).is_ok());
        let e = check("projects", 2, 2).unwrap_err();
        assert_eq!(e.problem().code, "limit_reached");
        assert_eq!(e.problem().errors[0].field, "limit.projects");
        assert!(check("groups", 0, 0).is_err());
    }
}
