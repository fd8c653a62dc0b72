//! Projects of the caller's tenant and their assignment to users.

pub mod routes;
pub mod service;
