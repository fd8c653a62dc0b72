//! Customer tenants: created, suspended, reactivated and deleted by provider operators.

pub mod routes;
pub mod service;
