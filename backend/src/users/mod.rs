//! Users of the caller's tenant, managed by its admins (operators manage the provider's users).

pub mod routes;
pub mod service;
