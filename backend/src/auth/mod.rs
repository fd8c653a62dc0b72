//! Authentication and authorization: argon2id passwords, JWT access tokens, rotating refresh tokens,
//! the login rate limit, and the typed role extractors.

pub mod client_ip;
pub mod extract;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod refresh;
pub mod routes;
pub mod service;

pub use extract::{Admin, Anyone, Auth, AuthCtx, Finance, Member, Operator, Policy};
