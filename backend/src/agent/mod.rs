//! `/agent/v1/*`: the appliance agent protocol over HTTP, authenticated by per-appliance tokens that
//! reach nothing of the tenant API (they are not JWTs).

pub mod routes;
