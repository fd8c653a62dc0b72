//! The one typed client of the API (`client`), its error type (`error`), its pure retry decisions
//! (`flow`) and the single-flight token refresh shared by concurrent callers (`single_flight`).

pub mod client;
pub mod error;
pub mod flow;
pub mod single_flight;

pub use client::ApiClient;
pub use error::ApiError;
