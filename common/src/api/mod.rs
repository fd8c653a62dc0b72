//! Request and response bodies of the HTTP API (`/api/v1`), shared by the server and the SPA.
//! Requests refuse unknown fields; every request type validates itself with `validator`.

pub mod applications;
pub mod audit;
pub mod auth;
pub mod automation;
pub mod catalog;
pub mod compute;
pub mod images;
pub mod page;
pub mod projects;
pub mod stream;
pub mod tenants;
pub mod users;

pub use applications::*;
pub use audit::*;
pub use auth::*;
pub use automation::*;
pub use catalog::*;
pub use compute::*;
pub use images::*;
pub use page::*;
pub use projects::*;
pub use stream::*;
pub use tenants::*;
pub use users::*;
