//! The audit log, read by admins (their tenant) and operators (every tenant).

pub mod routes;
