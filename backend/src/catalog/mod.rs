//! The appliance catalog: global templates (operators) and tenants' private ones (admins).

pub mod routes;
pub mod service;
