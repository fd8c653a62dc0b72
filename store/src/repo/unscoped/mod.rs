//! Reads and writes of tenant-owned rows that take **no tenant**: the system's own work — the
//! orchestrator's passes and placements, the host monitor, the agent protocol (whose token names
//! the appliance), login (which finds the account's tenants by email), sweeps and counts.
//!
//! Everything else in [`crate::repo`] over tenant-owned data takes the `TenantId` first and filters
//! on it. A call into this module is where that guarantee does not come from the query, so in review
//! each one must show where its ids came from (a claim, a host, a verified token) — never straight
//! from a tenant's request. `use store::repo::unscoped;` and call `unscoped::appliances::get(…)`,
//! so the word is at every call site.

pub mod appliances;
pub mod applications;
pub mod automation;
pub mod live;
pub mod templates;
pub mod users;
