//! CloudScripts: tenants' own and the provider's library, versioned; rendered previews and runs.

pub mod routes;
pub mod service;
