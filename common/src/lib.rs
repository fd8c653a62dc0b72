//! Wasm-safe types shared by the backend, the SPA and the agent: typed ids, roles, API DTOs, validation.

pub mod api;
pub mod ids;
pub mod problem;
pub mod roles;
pub mod validate;

pub use ids::*;
pub use problem::{FieldError, Problem};
pub use roles::{Role, TenantKind, TenantStatus};
