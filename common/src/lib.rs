//! Wasm-safe types shared by the backend, the SPA and the agent: typed ids, roles, API DTOs, validation.

pub mod agent;
pub mod api;
pub mod ids;
pub mod lifecycle;
pub mod problem;
pub mod roles;
pub mod sse;
pub mod time;
pub mod validate;

pub use ids::*;
pub use lifecycle::{ApplianceState, HostState};
pub use problem::{FieldError, Problem};
pub use roles::{Role, TenantKind, TenantStatus};
