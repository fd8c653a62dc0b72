//! ScaleInfra's system of record: one connection type over PostgreSQL and SQLite, a pool, embedded
//! migrations, and the repositories — the only place diesel appears. Every repository function takes the
//! tenant first where the data belongs to a tenant.

pub mod admin;
pub mod conn;
pub mod error;
pub mod migrate;
pub mod models;
pub mod models_apps;
pub mod models_automation;
pub mod models_compute;
pub mod repo;
pub mod schema;
pub mod time;

pub use conn::{Backend, DbConn, PoolOptions, Store, savepoint};
pub use error::{Chain, StoreError, error_chain};
pub use models::*;
pub use models_apps::*;
pub use models_automation::*;
pub use models_compute::*;
